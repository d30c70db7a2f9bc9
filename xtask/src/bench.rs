//! `cargo xtask bench [PART...]`: the benchmarks (the `lb-bench` crate), written
//! to docs/benchmarks.md, docs/benchmarks.json and docs/bench/*.png. A run
//! replaces the figures of the parts it ran and keeps the others'.
use std::process::Command;

use anyhow::{Result, bail};

use crate::{cmd::CmdExt as _, paths, setup};

/// The parts, in the order they run when none is named.
pub const PARTS: [&str; 6] = ["dataplane", "maglev", "e2e", "drain", "flowtable", "fleet"];

/// Parts that drive the lab (namespaces, Nginx, the backends' venv), which
/// the full setup installs; the others only need the toolchain.
const LAB_PARTS: [&str; 3] = ["e2e", "drain", "fleet"];

pub fn run(parts: &[String]) -> Result<()> {
    if let Some(bad) = parts.iter().find(|p| !PARTS.contains(&p.as_str())) {
        bail!("unknown part `{bad}`; the parts are {}", PARTS.join(", "));
    }
    let lab = parts.is_empty() || parts.iter().any(|p| LAB_PARTS.contains(&p.as_str()));
    setup::run(if lab {
        setup::Scope::Full
    } else {
        setup::Scope::Toolchain
    })?;
    // lb-bench's build.rs builds the reference programs (bench-ebpf) and
    // lb-userspace's builds lb itself, both with the deb-rust toolchain.
    Command::new(paths::cargo())
        .current_dir(paths::workspace_root())
        .args(["run", "--release", "--package", "lb-bench", "--"])
        .args(parts)
        .run()
}
