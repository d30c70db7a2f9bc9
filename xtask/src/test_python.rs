//! The Python side of `cargo xtask test`: the lb-drain package's pytest
//! tests, run in the lab venv against the sources in the tree, and a wheel
//! build, which proves the package is installable as shipped.
use std::{fs, process::Command};

use anyhow::{Context as _, Result, bail};

use crate::{cmd::CmdExt as _, paths, setup};

/// `pytest` in `integrations/python` (its output goes through; a failing
/// test fails the step).
pub fn pytest() -> Result<()> {
    setup::lab_venv()?;
    let package = paths::python_package();
    Command::new(paths::lab_venv().join("bin/pytest"))
        .current_dir(&package)
        // Leave no .pytest_cache or __pycache__ in the tree, and the tests'
        // temporary dirs (their drain flags) under target/, not in /tmp.
        .args(["-p", "no:cacheprovider", "-v", "--basetemp"])
        .arg(paths::target_dir().join("lb-drain-pytest"))
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .run()
}

/// `pip wheel --no-deps ./integrations/python`, then checks that the wheel
/// holds the package's modules.
pub fn wheel() -> Result<()> {
    setup::lab_venv()?;
    let out = paths::target_dir().join("lb-drain-wheel");
    let _ = fs::remove_dir_all(&out);
    let python = paths::lab_venv().join("bin/python");
    Command::new(&python)
        .args([
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--disable-pip-version-check",
            "--no-deps",
            "-w",
        ])
        .arg(&out)
        .arg(paths::python_package())
        .run()?;
    let wheels: Vec<_> = fs::read_dir(&out)
        .with_context(|| format!("reading {}", out.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "whl"))
        .collect();
    let [wheel] = wheels.as_slice() else {
        bail!("expected one wheel in {}, found {wheels:?}", out.display());
    };
    let listing = Command::new(&python)
        .args(["-m", "zipfile", "-l"])
        .arg(wheel)
        .probe()
        .with_context(|| format!("listing {}", wheel.display()))?;
    for module in [
        "asgi",
        "wsgi",
        "gunicorn",
        "gunicorn_conf",
        "state",
        "access",
        "endpoint",
    ] {
        let name = format!("lb_drain/{module}.py");
        if !listing.contains(&name) {
            bail!("{} lacks {name}:\n{listing}", wheel.display());
        }
    }
    println!("built {}", wheel.display());
    Ok(())
}
