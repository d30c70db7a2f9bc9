//! `cargo xtask lint`: rustfmt and clippy with warnings as errors, including
//! the eBPF crate on its real target (see shared/TOOLCHAIN.md).
use std::process::Command;

use anyhow::Result;

use crate::{cmd::CmdExt as _, paths, setup, steps::Steps};

pub fn run() -> Result<()> {
    // Clippy on lb-userspace runs its build.rs, which builds the eBPF crate.
    setup::run(setup::Scope::Toolchain)?;
    let root = paths::workspace_root();
    let cargo = || {
        let mut c = Command::new(paths::cargo());
        c.current_dir(root);
        c
    };
    let mut steps = Steps::new("lint");
    steps.run("rustfmt", || {
        cargo().args(["fmt", "--all", "--", "--check"]).run()
    });
    steps.run("clippy (workspace)", || {
        // --workspace alone would take lb-ebpf, which only builds for bpfel.
        cargo()
            .args([
                "clippy",
                "--workspace",
                "--exclude",
                "lb-ebpf",
                "--all-targets",
            ])
            .args(["--", "-D", "warnings"])
            .run()
    });
    steps.run("clippy lb-ebpf (bpfel-unknown-none)", || {
        // Debian's rust-web-clippy gives the deb-rust toolchain a cargo-clippy;
        // RUSTC_BOOTSTRAP allows -Z build-std and aya-ebpf's unstable feature.
        Command::new("rustup")
            .current_dir(root.join("lb-ebpf"))
            .env("RUSTC_BOOTSTRAP", "1")
            .args(["run", setup::DEB_RUST, "cargo", "clippy", "--release"])
            .args(["--target", "bpfel-unknown-none", "-Z", "build-std=core"])
            .args(["--", "-D", "warnings"])
            .run()
    });
    steps.run("clippy lb-ebpf (host)", || {
        // As aya-template does: on the host the crate is only what its
        // cfg(not(target_arch = "bpf")) items leave; panic=abort keeps a
        // no_std build with its own #[panic_handler] from needing unwinding.
        cargo()
            .args(["clippy", "--package", "lb-ebpf"])
            .args(["--", "-D", "warnings", "-C", "panic=abort"])
            .run()
    });
    steps.finish()
}
