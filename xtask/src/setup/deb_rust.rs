//! The `deb-rust` rustup toolchain: Debian's rustc 1.96 (LLVM 22, with the
//! standard library sources and a prebuilt `core` for bpfel) linked into
//! rustup. lb-userspace's build.rs builds the eBPF crate with it, because
//! rustup's own toolchains here have no `rust-src`.
use std::process::Command;

use anyhow::Result;

use crate::cmd::CmdExt as _;

pub const NAME: &str = "deb-rust";

pub fn ensure() -> Result<()> {
    if let Some(version) = rustc_version() {
        println!("ok: {NAME} toolchain present ({version})");
        return Ok(());
    }
    println!("installing: rustup toolchain link {NAME} /usr");
    Command::new("rustup")
        .args(["toolchain", "link", NAME, "/usr"])
        .run()?;
    match rustc_version() {
        Some(version) => {
            println!("ok: {NAME} toolchain linked ({version})");
            Ok(())
        }
        None => anyhow::bail!("`rustup run {NAME} rustc --version` still fails after linking"),
    }
}

fn rustc_version() -> Option<String> {
    Command::new("rustup")
        .args(["run", NAME, "rustc", "--version"])
        .probe()
        .map(|v| v.trim().to_owned())
}
