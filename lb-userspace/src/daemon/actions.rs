//! Running a backend's `on_drain` and `shutdown` actions: a signal to a local
//! process, a command (argv, no shell), or an HTTP request. Every outcome is
//! logged and returned for `lb status`.

use std::{net::IpAddr, os::fd::OwnedFd, time::Duration};

use super::{clock::unix_now, pidfd};
use crate::{
    api::types::{ActionKind as Kind, ActionOutcome},
    config::{Action, PidSource},
};

/// How long a command or HTTP action may take before it counts as failed.
const ACTION_TIMEOUT: Duration = Duration::from_secs(30);

/// The process a signal went to: its pid (for the record) and a pidfd to
/// watch for its exit.
pub struct Signalled {
    pub pid: u32,
    pub pidfd: OwnedFd,
}

/// Runs `action` for backend `name` at `address`. A signal also returns the
/// process it went to, so the drain can watch that process exit.
pub async fn run(
    kind: Kind,
    action: &Action,
    name: &str,
    address: IpAddr,
) -> (ActionOutcome, Option<Signalled>) {
    let started = unix_now();
    let mut signalled = None;
    let result = match action {
        Action::Signal { signal, target } => send_signal(*signal, target).map(|(to, detail)| {
            signalled = Some(to);
            detail
        }),
        Action::Command { argv } => run_command(argv, name, address).await,
        Action::Http { url, method } => http(url, method).await,
    };
    let (ok, detail) = match result {
        Ok(detail) => (true, detail),
        Err(detail) => (false, detail),
    };
    if ok {
        tracing::info!(backend = name, action = kind.as_str(), %detail, "action done");
    } else {
        tracing::error!(backend = name, action = kind.as_str(), %detail, "action failed");
    }
    let outcome = ActionOutcome {
        kind,
        // When it started: of two actions of one drain, the later-started one
        // (the shutdown, after on_drain) is the one status shows.
        at: started,
        ok,
        detail,
    };
    (outcome, signalled)
}

fn send_signal(
    signal: crate::config::Signal,
    target: &PidSource,
) -> Result<(Signalled, String), String> {
    let (pid, from) = match target {
        PidSource::Pid(pid) => (
            pidfd::parse_pid(&pid.to_string()).map_err(|e| format!("pid {pid}: {e}"))?,
            String::new(),
        ),
        PidSource::PidFile(path) => (
            pidfd::read_pid_file(path)?,
            format!(" (from {})", path.display()),
        ),
    };
    let fd =
        pidfd::open(pid).map_err(|e| format!("SIG{} to pid {pid}{from}: {e}", signal.name()))?;
    pidfd::send_signal(&fd, signal.number())
        .map_err(|e| format!("SIG{} to pid {pid}{from}: {e}", signal.name()))?;
    let detail = format!("SIG{} to pid {pid}{from}", signal.name());
    Ok((Signalled { pid, pidfd: fd }, detail))
}

async fn run_command(argv: &[String], name: &str, address: IpAddr) -> Result<String, String> {
    let (program, args) = argv.split_first().ok_or("empty command")?;
    let child = tokio::process::Command::new(program)
        .args(args)
        .env("LB_BACKEND", name)
        .env("LB_ADDRESS", address.to_string())
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(ACTION_TIMEOUT, child)
        .await
        .map_err(|_| format!("{argv:?} still running after {ACTION_TIMEOUT:?}; killed"))?
        .map_err(|e| format!("starting {argv:?}: {e}"))?;
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        tracing::info!(backend = name, stream = "stdout", "{line}");
    }
    for line in String::from_utf8_lossy(&out.stderr).lines() {
        tracing::warn!(backend = name, stream = "stderr", "{line}");
    }
    if out.status.success() {
        Ok(format!("{argv:?} exited 0"))
    } else {
        Err(format!("{argv:?} failed: {}", out.status))
    }
}

async fn http(url: &str, method: &str) -> Result<String, String> {
    let parsed = super::http1::parse_url(url)?;
    let status = super::http1::request(
        parsed.addr,
        &parsed.host,
        method,
        &parsed.path,
        ACTION_TIMEOUT,
    )
    .await?;
    if (200..300).contains(&status) {
        Ok(format!("{method} {url} answered {status}"))
    } else {
        Err(format!("{method} {url} answered {status}"))
    }
}
