//! Builds the XDP program (`lb-ebpf`) for bpfel-unknown-none and leaves the
//! object in OUT_DIR, where `src/` embeds it with `include_bytes_aligned!`.
//!
//! The machines' rustup toolchains have no `rust-src`, so the build goes through
//! Debian's rustc (linked as the rustup toolchain `deb-rust` by `cargo xtask
//! setup`) with `-Z build-std=core`, which aya-build adds when
//! `RUSTC_BOOTSTRAP=1` is set (see shared/TOOLCHAIN.md).
use anyhow::{Context as _, anyhow};
use aya_build::Toolchain;

fn main() -> anyhow::Result<()> {
    let cargo_metadata::Metadata { packages, .. } = cargo_metadata::MetadataCommand::new()
        .no_deps()
        .exec()
        .context("cargo metadata")?;
    let ebpf = packages
        .into_iter()
        .find(|p| p.name.as_str() == "lb-ebpf")
        .ok_or_else(|| anyhow!("lb-ebpf package not found in the workspace"))?;
    let root_dir = ebpf
        .manifest_path
        .parent()
        .ok_or_else(|| anyhow!("no parent for {}", ebpf.manifest_path))?;
    // SAFETY: build scripts are single-threaded; aya-build reads this when it spawns cargo.
    unsafe { std::env::set_var("RUSTC_BOOTSTRAP", "1") };
    aya_build::build_ebpf(
        [aya_build::Package {
            name: "lb-ebpf",
            root_dir: root_dir.as_str(),
            ..Default::default()
        }],
        Toolchain::Custom("deb-rust"),
    )
    .context("building the eBPF program; run `cargo xtask setup` if the toolchain is missing")
}
