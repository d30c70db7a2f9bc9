//! Used from build scripts: compiles a workspace eBPF crate for
//! bpfel-unknown-none and leaves its object in OUT_DIR, where the crate
//! embeds it with `include_bytes_aligned!`.
//!
//! The machines' rustup toolchains have no `rust-src`, so the build goes
//! through Debian's rustc (linked as the rustup toolchain `deb-rust` by
//! `cargo xtask setup`) with `-Z build-std=core`, which aya-build adds when
//! `RUSTC_BOOTSTRAP=1` is set (see docs/toolchain.md).

use anyhow::{Context as _, anyhow};
use aya_build::Toolchain;

/// Builds workspace package `name` (an eBPF crate).
pub fn build(name: &str) -> anyhow::Result<()> {
    build_with_features(name, &[])
}

/// Builds workspace package `name` (an eBPF crate) with cargo `features`.
pub fn build_with_features(name: &str, features: &[&str]) -> anyhow::Result<()> {
    let cargo_metadata::Metadata { packages, .. } = cargo_metadata::MetadataCommand::new()
        .no_deps()
        .exec()
        .context("cargo metadata")?;
    let ebpf = packages
        .into_iter()
        .find(|p| p.name.as_str() == name)
        .ok_or_else(|| anyhow!("{name} package not found in the workspace"))?;
    let root_dir = ebpf
        .manifest_path
        .parent()
        .ok_or_else(|| anyhow!("no parent for {}", ebpf.manifest_path))?;
    // aya-build watches the eBPF crate's own directory only; the shared types
    // it compiles in (lb-common) change the object's map layouts too.
    for dep in &ebpf.dependencies {
        if let Some(path) = &dep.path {
            println!("cargo:rerun-if-changed={path}");
        }
    }
    // SAFETY: build scripts are single-threaded; aya-build reads this when it
    // spawns cargo.
    unsafe { std::env::set_var("RUSTC_BOOTSTRAP", "1") };
    aya_build::build_ebpf(
        [aya_build::Package {
            name,
            root_dir: root_dir.as_str(),
            features,
            ..Default::default()
        }],
        Toolchain::Custom("deb-rust"),
    )
    .with_context(|| {
        format!("building {name}; run `cargo xtask setup` if the toolchain is missing")
    })
}
