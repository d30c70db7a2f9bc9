//! Running a backend's `on_drain` and `shutdown` actions: a signal to a local
//! process, a command (argv, no shell), or an HTTP request. Every outcome is
//! logged and returned for `lb status`.

use std::{net::IpAddr, time::Duration};

use crate::{
    api::types::ActionOutcome,
    config::{Action, PidSource},
};

/// How long a command or HTTP action may take before it counts as failed.
const ACTION_TIMEOUT: Duration = Duration::from_secs(30);

/// Which of a backend's actions this is.
#[derive(Clone, Copy, Debug)]
pub enum Kind {
    OnDrain,
    Shutdown,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::OnDrain => "on_drain",
            Kind::Shutdown => "shutdown",
        }
    }
}

fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Runs `action` for backend `name` at `address`. Also returns the pid a
/// signal went to, so the drain can watch that process exit.
pub async fn run(
    kind: Kind,
    action: &Action,
    name: &str,
    address: IpAddr,
) -> (ActionOutcome, Option<u32>) {
    let started = unix_now();
    let mut pid = None;
    let result = match action {
        Action::Signal { signal, target } => {
            send_signal(*signal, target).map(|(sent_to, detail)| {
                pid = Some(sent_to);
                detail
            })
        }
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
        kind: kind.as_str().to_string(),
        // When it started: of two actions of one drain, the later-started one
        // (the shutdown, after on_drain) is the one status shows.
        at: started,
        ok,
        detail,
    };
    (outcome, pid)
}

/// True when `pid` no longer runs (gone, or a zombie nobody reaped yet).
pub fn process_gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the parenthesised command name.
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.trim_start().chars().next())
            .is_some_and(|state| matches!(state, 'Z' | 'X')),
        Err(_) => true,
    }
}

fn send_signal(signal: crate::config::Signal, target: &PidSource) -> Result<(u32, String), String> {
    let (pid, from) = match target {
        PidSource::Pid(pid) => (*pid, String::new()),
        PidSource::PidFile(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("reading pid file {}: {e}", path.display()))?;
            let pid: u32 = text.trim().parse().map_err(|_| {
                format!(
                    "pid file {} holds {:?}, not a pid",
                    path.display(),
                    text.trim()
                )
            })?;
            (pid, format!(" (from {})", path.display()))
        }
    };
    if pid == 0 || pid > i32::MAX as u32 {
        return Err(format!("refusing to signal pid {pid}{from}"));
    }
    let sig = nix::sys::signal::Signal::try_from(signal.number())
        .map_err(|e| format!("signal {}: {e}", signal.name()))?;
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), sig)
        .map_err(|e| format!("SIG{} to pid {pid}{from}: {e}", signal.name()))?;
    Ok((pid, format!("SIG{} to pid {pid}{from}", signal.name())))
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
