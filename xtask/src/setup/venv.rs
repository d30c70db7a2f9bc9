//! The Python venv with the lab's HTTP backends (Gunicorn + Uvicorn workers +
//! FastAPI, pinned in xtask/lab-requirements.txt) at `target/lab-venv`.
//! A copy of the requirements inside the venv records what was installed;
//! when the file changes the venv is rebuilt from scratch, so no package from
//! an older pin set lingers.
use std::{fs, path::Path, process::Command};

use anyhow::{Context as _, Result, bail};

use crate::{cmd::CmdExt as _, paths};

/// The copy of the requirements that the venv was built from.
const STAMP: &str = "lab-requirements.installed.txt";

pub fn ensure() -> Result<()> {
    let venv = paths::lab_venv();
    let requirements_path = paths::lab_requirements();
    let requirements = fs::read_to_string(&requirements_path)
        .with_context(|| format!("reading {}", requirements_path.display()))?;
    let python = venv.join("bin/python");
    let stamp = fs::read_to_string(venv.join(STAMP)).ok();
    let summary = summary(&requirements);
    if stamp.as_deref() == Some(requirements.as_str()) && imports_work(&python) {
        println!("ok: lab venv {} ({summary})", venv.display());
        return Ok(());
    }
    println!("installing: lab venv {} ({summary})", venv.display());
    // --clear empties a stale venv; the stamp goes with it, so an interrupted
    // install is redone next time.
    Command::new(base_python()?)
        .args(["-m", "venv", "--clear"])
        .arg(&venv)
        .run()?;
    Command::new(&python)
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "-r",
        ])
        .arg(&requirements_path)
        .run()?;
    if !imports_work(&python) {
        bail!("the lab venv was installed but cannot import gunicorn, uvicorn and fastapi");
    }
    fs::write(venv.join(STAMP), &requirements)
        .with_context(|| format!("writing the stamp in {}", venv.display()))
}

/// Debian's python (what python3-venv makes complete) unless it lacks `venv`
/// and `ensurepip`; then whatever `python3` is on PATH (e.g. pyenv's).
fn base_python() -> Result<&'static str> {
    ["/usr/bin/python3", "python3"]
        .into_iter()
        .find(|py| {
            Command::new(py)
                .args(["-c", "import venv, ensurepip"])
                .probe()
                .is_some()
        })
        .context("no python3 with the venv and ensurepip modules (Debian package python3-venv)")
}

/// Catches a venv whose interpreter broke (e.g. Python upgraded underneath it).
fn imports_work(python: &Path) -> bool {
    Command::new(python)
        .args(["-c", "import gunicorn, uvicorn, fastapi"])
        .probe()
        .is_some()
}

/// "gunicorn==27.0.1, uvicorn==0.54.0, fastapi==0.165.0", from the file.
fn summary(requirements: &str) -> String {
    requirements
        .lines()
        .map(str::trim)
        .filter(|l| {
            ["gunicorn==", "uvicorn==", "fastapi=="]
                .iter()
                .any(|p| l.starts_with(p))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    #[test]
    fn summary_names_the_three_backend_packages() {
        let text = std::fs::read_to_string(crate::paths::lab_requirements()).unwrap();
        let s = super::summary(&text);
        for name in ["gunicorn==", "uvicorn==", "fastapi=="] {
            assert!(s.contains(name), "{s}");
        }
    }
}
