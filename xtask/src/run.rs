//! `cargo xtask run`: the demo lab, `-- --fleet` the fleet demo, or
//! `lb daemon ARGS` on a real NIC.
use std::{os::unix::process::CommandExt as _, process::Command};

use anyhow::{Context as _, Result};

use crate::{build, fleet_demo, lab, setup};

/// The argument that asks for the fleet demo instead of `lb daemon ARGS`
/// (`lb daemon` has no such option, so nothing is shadowed).
const FLEET: &str = "--fleet";

pub fn run(args: &[String]) -> Result<()> {
    if args.iter().any(|a| a == FLEET) && args.len() > 1 {
        anyhow::bail!("`{FLEET}` takes no other arguments, got {args:?}");
    }
    setup::run(setup::Scope::Full)?;
    let lb = build::build_lb(false)?;
    if args.is_empty() {
        return lab::run_lab(&lb);
    }
    if args[0] == FLEET {
        return fleet_demo::run_fleet(&lb);
    }
    // exec, so signals (Ctrl-C, SIGTERM) go straight to the daemon.
    let error = Command::new(&lb).arg("daemon").args(args).exec();
    Err(error).with_context(|| format!("cannot exec {}", lb.display()))
}
