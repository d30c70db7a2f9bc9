//! `cargo xtask build`: the `lb` binary, whose build script (lb-userspace's
//! build.rs) builds the eBPF crate with the `deb-rust` toolchain and embeds it.
use std::{path::PathBuf, process::Command};

use anyhow::{Result, bail};

use crate::{cmd::CmdExt as _, paths, setup};

/// Checks the toolchain (installing what is missing), then builds.
pub fn run(debug: bool) -> Result<PathBuf> {
    setup::run(setup::Scope::Toolchain)?;
    build_lb(debug)
}

/// Builds `lb` and returns its path. Assumes setup has run.
pub fn build_lb(debug: bool) -> Result<PathBuf> {
    let mut cargo = Command::new(paths::cargo());
    cargo
        .current_dir(paths::workspace_root())
        .args(["build", "--package", "lb-userspace"]);
    if !debug {
        cargo.arg("--release");
    }
    cargo.run()?;
    let lb = paths::target_dir()
        .join(if debug { "debug" } else { "release" })
        .join("lb");
    if !lb.is_file() {
        bail!("cargo build succeeded but {} is missing", lb.display());
    }
    println!("built: {}", lb.display());
    Ok(lb)
}
