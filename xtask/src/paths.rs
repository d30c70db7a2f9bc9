//! Where things are: the workspace, the cargo that runs us, cargo's bin dir.
use std::{
    env,
    ffi::OsString,
    path::{Path, PathBuf},
};

/// The workspace root (xtask lives one level below it).
pub fn workspace_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask sits inside the workspace")
}

/// The target directory. `CARGO_TARGET_DIR` is honoured (cargo reads a
/// relative one from the current directory) so the paths we print match where
/// cargo really put things.
pub fn target_dir() -> PathBuf {
    match env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => env::current_dir().unwrap_or_default().join(dir),
        None => workspace_root().join("target"),
    }
}

/// The cargo that launched `cargo xtask` (set by `cargo run`), so nested builds
/// use the same toolchain; plain `cargo` otherwise.
pub fn cargo() -> OsString {
    env::var_os("CARGO").unwrap_or_else(|| "cargo".into())
}

/// `$CARGO_HOME/bin` (default `~/.cargo/bin`), where `cargo install` puts bpf-linker.
pub fn cargo_bin_dir() -> Option<PathBuf> {
    let home = env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))?;
    Some(home.join("bin"))
}

/// Puts cargo's bin dir on PATH if it is missing: rustc finds `bpf-linker` only
/// through PATH, and a root shell (e.g. `sudo`) often lacks `~/.cargo/bin`.
/// Every child we spawn inherits it.
pub fn ensure_cargo_bin_on_path() {
    let Some(bin) = cargo_bin_dir() else { return };
    let path = env::var_os("PATH").unwrap_or_default();
    if env::split_paths(&path).any(|p| p == bin) {
        return;
    }
    let joined = env::join_paths(std::iter::once(bin).chain(env::split_paths(&path)))
        .expect("PATH entries came from PATH");
    // SAFETY: called first thing in main, before any other thread exists.
    unsafe { env::set_var("PATH", joined) };
}

/// The venv holding the lab's HTTP backends (Gunicorn + Uvicorn + FastAPI).
/// Always `<workspace>/target/lab-venv`, whatever `CARGO_TARGET_DIR` says, so
/// the integration tests find it at a fixed place.
pub fn lab_venv() -> PathBuf {
    workspace_root().join("target").join("lab-venv")
}

/// The pinned requirements for [`lab_venv`].
pub fn lab_requirements() -> PathBuf {
    workspace_root().join("xtask").join("lab-requirements.txt")
}

/// `integrations/python`: the lb-drain package (installed into [`lab_venv`]).
pub fn python_package() -> PathBuf {
    workspace_root().join("integrations").join("python")
}
