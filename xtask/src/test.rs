//! `cargo xtask test`: unit tests on the host (Rust, then the lb-drain Python
//! package's pytest tests and wheel build), then the integration tests
//! (lb-tests), which need root: they create network namespaces and load XDP.
use std::process::Command;

use anyhow::{Result, bail};

use crate::{cmd::CmdExt as _, paths, setup, steps::Steps, test_python};

pub fn run(unit_only: bool, filter: &[String]) -> Result<()> {
    // Unit tests need only the toolchain; the integration tests need the lab
    // too (bpffs, venv, tools), which also needs root.
    setup::run(if unit_only {
        setup::Scope::Toolchain
    } else {
        setup::Scope::Full
    })?;
    let mut steps = Steps::new("test");
    steps.run("unit tests", || {
        // --workspace would include lb-ebpf (a non-default member that only
        // builds for bpfel), bench-ebpf likewise, and the crates whose tests
        // need root and namespaces (run below, serially).
        cargo_test(
            &[
                "--workspace",
                "--exclude",
                "lb-ebpf",
                "--exclude",
                "lb-bench-ebpf",
                "--exclude",
                "lb-tests",
                "--exclude",
                "lb-lab",
            ],
            &[],
            filter,
        )
    });
    // Always all of them (a few seconds): the lab's backends run this package.
    steps.run(
        "python tests (pytest integrations/python)",
        test_python::pytest,
    );
    steps.run(
        "python wheel (pip wheel integrations/python)",
        test_python::wheel,
    );
    if !unit_only {
        steps.run("integration tests (lb-tests, root)", || {
            if !setup::is_root() {
                bail!("need root (network namespaces, XDP); run as root or pass --unit-only");
            }
            // First the upgrade test's variant, then the real `lb` binary that
            // the end-to-end tests run in the lab (the last build wins the name).
            build_upgrade_binary()?;
            build_debug_lb(&[])?;
            let mut env = Vec::new();
            if wants_package(filter) {
                // The package tests (lb-tests' package.rs) check the real .deb.
                let deb = crate::dist::package(&crate::build::build_lb(false)?)?;
                env.push(("LB_DEB", deb));
            }
            // Serially: tests share the host's bpffs and the machine's 2 cores.
            cargo_test_env(
                &["--package", "lb-lab", "--package", "lb-tests"],
                &["--test-threads=1", "--nocapture"],
                filter,
                &env,
            )
        });
    }
    steps.finish()
}

/// Builds `lb` with the `test-upgrade` feature (an XDP program whose
/// instructions differ, same maps) as `target/debug/lb-upgrade`, for the
/// hitless-upgrade test. In the shared target directory, so only `lb` and its
/// XDP program are compiled again, not every dependency: cargo keeps the
/// artifacts of each feature set apart, and the plain build that follows
/// puts the ordinary `target/debug/lb` back.
fn build_upgrade_binary() -> Result<()> {
    let target = paths::target_dir();
    build_debug_lb(&["--features", "test-upgrade"])?;
    let from = target.join("debug").join("lb");
    let to = target.join("debug").join("lb-upgrade");
    std::fs::copy(&from, &to)
        .map_err(|e| anyhow::anyhow!("copying {} to {}: {e}", from.display(), to.display()))?;
    Ok(())
}

/// `cargo build --package lb-userspace --bin lb EXTRA...` (debug).
fn build_debug_lb(extra: &[&str]) -> Result<()> {
    let mut build = Command::new(paths::cargo());
    build
        .current_dir(paths::workspace_root())
        .args(["build", "--package", "lb-userspace", "--bin", "lb"])
        .args(extra);
    build.run()?;
    Ok(())
}

/// Whether the run includes a test of the package: `package_*` (its
/// contents) or `systemd_*` (its unit run by a real systemd): every run
/// without a filter, or a filter that names them. Building the package takes
/// a release build, so other filtered runs skip it.
fn wants_package(filter: &[String]) -> bool {
    filter.is_empty()
        || filter.iter().any(|f| {
            ["package", "systemd"].iter().any(|name| {
                f.contains(name) || (f.len() >= 3 && format!("{name}_").contains(f.as_str()))
            })
        })
}

fn cargo_test(cargo_args: &[&str], harness_args: &[&str], filter: &[String]) -> Result<()> {
    cargo_test_env(cargo_args, harness_args, filter, &[])
}

fn cargo_test_env(
    cargo_args: &[&str],
    harness_args: &[&str],
    filter: &[String],
    env: &[(&str, std::path::PathBuf)],
) -> Result<()> {
    let mut cargo = Command::new(paths::cargo());
    cargo.envs(env.iter().map(|(k, v)| (k, v)));
    cargo
        .current_dir(paths::workspace_root())
        .arg("test")
        .args(cargo_args)
        .arg("--")
        .args(harness_args)
        .args(filter);
    cargo.run()
}
