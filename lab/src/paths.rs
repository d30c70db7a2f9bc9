//! Where things are: the workspace, the backends' venv and app, lab dirs.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};

/// The workspace root: this crate's parent when built from the tree (the
/// usual case), else the nearest ancestor of the current directory holding
/// `Cargo.lock` (a binary moved elsewhere but run from the tree).
pub fn workspace_root() -> PathBuf {
    let built = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    if built.join("Cargo.lock").is_file() {
        return built.canonicalize().unwrap_or(built);
    }
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    cwd.ancestors()
        .find(|d| d.join("Cargo.lock").is_file())
        .map(Path::to_path_buf)
        .unwrap_or(cwd)
}

/// `<workspace>/target/lab-venv`, made by `cargo xtask setup` (always under
/// the workspace's own `target`, whatever `CARGO_TARGET_DIR` says).
pub fn venv() -> PathBuf {
    workspace_root().join("target").join("lab-venv")
}

/// The venv's `gunicorn`, or a clear error when setup has not been run.
pub fn gunicorn() -> Result<PathBuf> {
    let g = venv().join("bin").join("gunicorn");
    if !g.is_file() {
        bail!(
            "the lab venv is missing ({} not found): run `cargo xtask setup`",
            g.display()
        );
    }
    Ok(g)
}

/// `lab/app`: the FastAPI app and the Gunicorn config.
pub fn app_dir() -> PathBuf {
    workspace_root().join("lab").join("app")
}

/// The `lb` binary of a cargo profile ("debug" or "release") in this workspace.
pub fn lb_binary(profile: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| workspace_root().join("target"), PathBuf::from);
    target.join(profile).join("lb")
}
