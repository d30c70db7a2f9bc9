//! `cargo xtask lint`: rustfmt and clippy with warnings as errors, including
//! the eBPF crates on their real target (see docs/toolchain.md).
use std::process::{Command, Stdio};

use anyhow::Result;

use crate::{cmd::CmdExt as _, paths, setup, steps::Steps};

/// The eBPF crates (package, directory): the XDP program and the
/// benchmark's reference programs. They build only for bpfel-unknown-none.
const EBPF_CRATES: [(&str, &str); 2] = [("lb-ebpf", "lb-ebpf"), ("lb-bench-ebpf", "bench-ebpf")];

/// The toolchain whose rustfmt knows rustfmt.toml's import grouping options
/// (unstable, as in aya-template).
const NIGHTLY: &str = "nightly";

/// Whether the nightly toolchain and its rustfmt are installed.
fn nightly_rustfmt() -> bool {
    Command::new("rustup")
        .args(["run", NIGHTLY, "rustfmt", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

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
    if nightly_rustfmt() {
        steps.run("rustfmt (nightly, with import grouping)", || {
            Command::new("rustup")
                .current_dir(root)
                .args(["run", NIGHTLY, "cargo", "fmt", "--all", "--", "--check"])
                .run()
        });
    } else {
        println!(
            "note: no {NIGHTLY} rustfmt, so import grouping (rustfmt.toml's \
             group_imports, imports_granularity) is NOT checked; \
             `rustup toolchain install {NIGHTLY} --component rustfmt` adds it"
        );
        steps.run("rustfmt (stable, import grouping not checked)", || {
            cargo().args(["fmt", "--all", "--", "--check"]).run()
        });
    }
    steps.run("clippy (workspace)", || {
        // --workspace alone would take the eBPF crates, which only build for bpfel.
        let mut c = cargo();
        c.args(["clippy", "--workspace"]);
        for (package, _) in EBPF_CRATES {
            c.args(["--exclude", package]);
        }
        c.args(["--all-targets", "--", "-D", "warnings"]).run()
    });
    for (package, dir) in EBPF_CRATES {
        steps.run(&format!("clippy {package} (bpfel-unknown-none)"), || {
            // Debian's rust-web-clippy gives the deb-rust toolchain a cargo-clippy;
            // RUSTC_BOOTSTRAP allows -Z build-std and aya-ebpf's unstable feature.
            Command::new("rustup")
                .current_dir(root.join(dir))
                .env("RUSTC_BOOTSTRAP", "1")
                .args(["run", setup::DEB_RUST, "cargo", "clippy", "--release"])
                .args(["--target", "bpfel-unknown-none", "-Z", "build-std=core"])
                .args(["--", "-D", "warnings"])
                .run()
        });
        steps.run(&format!("clippy {package} (host)"), || {
            // As aya-template does: on the host the crate is only what its
            // cfg(not(target_arch = "bpf")) items leave; panic=abort keeps a
            // no_std build with its own #[panic_handler] from needing unwinding.
            cargo()
                .args(["clippy", "--package", package])
                .args(["--", "-D", "warnings", "-C", "panic=abort"])
                .run()
        });
    }
    steps.finish()
}
