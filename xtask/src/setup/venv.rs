//! The Python venv with the lab's HTTP backends (Gunicorn + Uvicorn workers +
//! FastAPI, pinned in xtask/lab-requirements.txt) at `target/lab-venv`, and
//! the repository's own `integrations/python` package (lb-drain), which the
//! backends use. A copy of the requirements inside the venv records what was
//! installed; when the file changes the venv is rebuilt from scratch, so no
//! package from an older pin set lingers. The package is reinstalled whenever
//! its sources change, so the lab always runs the code in the tree.
use std::{fmt::Write as _, fs, path::Path, process::Command};

use anyhow::{Context as _, Result, bail};

use crate::{cmd::CmdExt as _, paths};

/// The copy of the requirements that the venv was built from.
const STAMP: &str = "lab-requirements.installed.txt";
/// The sources of the lb-drain package that was installed.
const PACKAGE_STAMP: &str = "lb-drain.installed.txt";

pub fn ensure() -> Result<()> {
    ensure_requirements()?;
    ensure_package()
}

fn ensure_requirements() -> Result<()> {
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
        bail!("the lab venv was installed but cannot import gunicorn, uvicorn, fastapi and pytest");
    }
    fs::write(venv.join(STAMP), &requirements)
        .with_context(|| format!("writing the stamp in {}", venv.display()))
}

/// `pip install ./integrations/python` unless the venv holds these sources
/// already.
fn ensure_package() -> Result<()> {
    let venv = paths::lab_venv();
    let package = paths::python_package();
    let sources = package_sources(&package)?;
    let stamp = venv.join(PACKAGE_STAMP);
    let python = venv.join("bin/python");
    if fs::read_to_string(&stamp).ok().as_deref() == Some(sources.as_str())
        && python_runs(&python, "import lb_drain")
    {
        println!("ok: lb-drain installed in the lab venv");
        return Ok(());
    }
    println!(
        "installing: lb-drain ({}) into the lab venv",
        package.display()
    );
    let _ = fs::remove_file(&stamp);
    Command::new(&python)
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-deps",
            "--force-reinstall",
        ])
        .arg(&package)
        .run()?;
    fs::write(&stamp, &sources).with_context(|| format!("writing {}", stamp.display()))
}

/// Every file of the package that goes into the wheel, with its path, as one
/// string: the stamp that says whether the installed copy is current.
fn package_sources(package: &Path) -> Result<String> {
    let mut files = vec![package.join("pyproject.toml"), package.join("README.md")];
    let module = package.join("lb_drain");
    let mut entries: Vec<_> = fs::read_dir(&module)
        .with_context(|| format!("reading {}", module.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    entries.sort();
    files.extend(entries);
    let mut all = String::new();
    for f in files {
        let text = fs::read_to_string(&f).with_context(|| format!("reading {}", f.display()))?;
        let _ = writeln!(all, "== {}\n{text}", f.display());
    }
    Ok(all)
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
    python_runs(python, "import gunicorn, uvicorn, fastapi, pytest")
}

fn python_runs(python: &Path, code: &str) -> bool {
    Command::new(python).args(["-c", code]).probe().is_some()
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
