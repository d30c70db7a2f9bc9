//! bpf-linker, which rustc calls to link the eBPF object. Built against
//! Debian's LLVM 22 (the version Debian's rustc uses); its default feature
//! wants LLVM 23, hence the feature flags.
use std::process::Command;

use anyhow::{Result, bail};

use crate::{cmd::CmdExt as _, paths};

const VERSION: &str = "0.13.0";

pub fn ensure() -> Result<()> {
    // main() has put cargo's bin dir on PATH, so this also sees ~/.cargo/bin.
    let found = Command::new("bpf-linker")
        .arg("--version")
        .probe()
        .map(|v| v.trim().to_owned());
    let want = format!("bpf-linker {VERSION}");
    match found {
        Some(v) if v == want => {
            println!("ok: {want} present");
            return Ok(());
        }
        Some(v) => println!("installing: {want} (found {v})"),
        None => println!("installing: {want} (about a minute)"),
    }
    Command::new(paths::cargo())
        .env("LLVM_PREFIX", "/usr/lib/llvm-22")
        .args(["install", "bpf-linker", "--version", VERSION, "--locked"])
        .args(["--no-default-features", "--features", "llvm-22"])
        .run()?;
    match Command::new("bpf-linker").arg("--version").probe() {
        Some(v) if v.trim() == want => Ok(()),
        other => bail!(
            "installed {want}, but `bpf-linker --version` on PATH gives {other:?}; \
             put {} first on PATH",
            paths::cargo_bin_dir().map_or("cargo's bin dir".into(), |d| d.display().to_string())
        ),
    }
}
