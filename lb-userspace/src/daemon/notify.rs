//! Telling systemd (`Type=notify`) how the daemon is doing. Every call is a
//! no-op when NOTIFY_SOCKET is not set (not under systemd, or in tests).

use std::time::Duration;

use sd_notify::NotifyState;

fn send(states: &[NotifyState<'_>]) {
    if std::env::var_os("NOTIFY_SOCKET").is_none() {
        return;
    }
    if let Err(e) = sd_notify::notify(states) {
        tracing::warn!(error = %e, "sd_notify failed");
    }
}

/// READY=1: the data plane is applied and the control socket is bound.
pub fn ready() {
    send(&[NotifyState::Ready]);
}

/// RELOADING=1 (with the monotonic time systemd 253+ requires).
pub fn reloading() {
    match NotifyState::monotonic_usec_now() {
        Ok(now) => send(&[NotifyState::Reloading, now]),
        Err(_) => send(&[NotifyState::Reloading]),
    }
}

/// STOPPING=1.
pub fn stopping() {
    send(&[NotifyState::Stopping]);
}

/// WATCHDOG=1. Sent by the core loop itself, so a wedged core stops feeding
/// the watchdog and systemd restarts the daemon.
pub fn watchdog() {
    send(&[NotifyState::Watchdog]);
}

/// How often to feed the watchdog: half its timeout, when systemd set one.
pub fn watchdog_every() -> Option<Duration> {
    sd_notify::watchdog_enabled()
        .filter(|d| !d.is_zero())
        // Never a zero period (tokio's interval refuses one).
        .map(|d| (d / 2).max(Duration::from_millis(1)))
}
