//! `cargo xtask setup`: installs whatever is missing, checking each piece first
//! so a second run only checks (a few seconds). See docs/toolchain.md for why
//! each piece is needed.
mod apt;
mod bpf_linker;
mod bpffs;
mod deb_rust;
mod venv;

use anyhow::{Result, bail};
pub use deb_rust::NAME as DEB_RUST;

/// How much of the machine to prepare.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// What building and linting need: Debian's rustc/LLVM, bpf-linker, the
    /// `deb-rust` rustup toolchain.
    Toolchain,
    /// Everything, including what running and testing need: lab tools, bpffs,
    /// the Python venv for the test backends.
    Full,
}

/// Shared state of one setup run: collects the steps that need root when we
/// are not root, so we can report them all at once instead of failing on the
/// first.
pub struct Ctx {
    root: bool,
    needs_root: Vec<String>,
}

impl Ctx {
    /// Records a step that needs root, to be reported at the end.
    fn need_root(&mut self, what: &str, command: &str) {
        println!("missing: {what} (needs root: {command})");
        self.needs_root.push(format!("{what}: {command}"));
    }
}

pub fn run(scope: Scope) -> Result<()> {
    let mut ctx = Ctx {
        root: is_root(),
        needs_root: Vec::new(),
    };
    let packages = match scope {
        Scope::Toolchain => apt::TOOLCHAIN.to_vec(),
        Scope::Full => [apt::TOOLCHAIN, apt::LAB].concat(),
    };
    // The steps that need root come first, so a non-root run reports them
    // before anything else can fail.
    let missing = apt::ensure(&mut ctx, &packages)?;
    if scope == Scope::Full {
        bpffs::ensure(&mut ctx)?;
    }
    // The rest builds on packages (LLVM for bpf-linker, /usr/bin/rustc for
    // deb-rust, python3-venv for the venv); without them they would only add
    // confusing errors.
    if let Some(p) = apt::TOOLCHAIN.iter().find(|p| missing.contains(p)) {
        println!("skipped: bpf-linker and the {DEB_RUST} toolchain (package {p} is missing)");
    } else {
        bpf_linker::ensure()?;
        deb_rust::ensure()?;
    }
    if scope == Scope::Full {
        if missing.contains(&"python3-venv") {
            println!("skipped: lab venv (package python3-venv is missing)");
        } else {
            venv::ensure()?;
        }
    }
    if !ctx.needs_root.is_empty() {
        bail!(
            "setup is incomplete; as root, run `cargo xtask setup`, or by hand:\n  {}",
            ctx.needs_root.join("\n  ")
        );
    }
    Ok(())
}

/// The lab venv alone (no root needed): what the Python tests run in.
pub fn lab_venv() -> Result<()> {
    venv::ensure()
}

/// True when running as root (apt, mount, network namespaces, BPF).
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}
