//! `cargo xtask run`: the demo lab, or `lb daemon ARGS` on a real NIC.
use std::{os::unix::process::CommandExt as _, process::Command};

use anyhow::{Context as _, Result};

use crate::{build, lab, setup};

pub fn run(args: &[String]) -> Result<()> {
    setup::run(setup::Scope::Full)?;
    let lb = build::build_lb(false)?;
    if args.is_empty() {
        return lab::run_lab(&lb);
    }
    // exec, so signals (Ctrl-C, SIGTERM) go straight to the daemon.
    let error = Command::new(&lb).arg("daemon").args(args).exec();
    Err(error).with_context(|| format!("cannot exec {}", lb.display()))
}
