//! The Gunicorn side of a lab backend: which app it serves with which
//! workers (its command line), the master's events log, and what its log
//! says about the workers and the lb_drain package (integrations/python)
//! inside them.

use std::{collections::BTreeSet, path::Path, time::Duration};

use anyhow::{Context as _, Result};
use serde::Deserialize;

use crate::{addr, paths};

/// The path of the drain notice endpoint that lb_drain serves, and that the
/// lab's `on_drain` action calls.
pub const DRAIN_PATH: &str = "/lb/drain";

/// Worker processes per backend.
pub const WORKERS: usize = 2;

/// Gunicorn's `--graceful-timeout`: how long workers get to finish after
/// SIGTERM. [`crate::Backend::stop_gracefully`] waits a little longer.
pub const GRACEFUL_TIMEOUT: Duration = Duration::from_secs(30);

/// Gunicorn's `--keep-alive` unless a test sets another
/// ([`crate::Backend::set_keep_alive`]): how long a worker keeps an idle
/// client connection open.
pub const KEEP_ALIVE: Duration = Duration::from_secs(5);

/// Gunicorn's command line: `app` on `port` (of IPv6 too with `ipv6`),
/// [`WORKERS`] workers, its pid written to `pid_file`, its log on stderr.
pub(crate) fn command_line(
    app: App,
    port: u16,
    ipv6: bool,
    keep_alive: Duration,
    pid_file: &Path,
) -> Result<Vec<String>> {
    let text = |p: &Path| p.to_string_lossy().into_owned();
    let dir = paths::app_dir();
    let mut args: Vec<String> = vec![
        text(&paths::gunicorn()?),
        "-c".into(),
        text(&dir.join("gunicorn_conf.py")),
        "--chdir".into(),
        text(&dir),
        "-w".into(),
        WORKERS.to_string(),
        "--graceful-timeout".into(),
        GRACEFUL_TIMEOUT.as_secs().to_string(),
        "--keep-alive".into(),
        keep_alive.as_secs().to_string(),
        "--pid".into(),
        text(pid_file),
        "--error-logfile".into(),
        "-".into(),
        "--log-level".into(),
        "info".into(),
        "-b".into(),
        format!("0.0.0.0:{port}"),
    ];
    if ipv6 {
        args.extend(["-b".into(), format!("[::]:{port}")]);
    }
    args.extend(app.args().iter().map(|a| (*a).to_owned()));
    Ok(args)
}

/// What a backend's Gunicorn serves.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum App {
    /// `lab/app/app.py` under Uvicorn workers, with lb_drain's ASGI
    /// middleware added in the app (`app.add_middleware(DrainMiddleware)`).
    #[default]
    FastApi,
    /// `lab/app/wsgi_app.py`, a plain WSGI app, under gthread workers, with
    /// lb_drain's WSGI middleware added by lb_drain's Gunicorn hooks.
    Wsgi,
}

impl App {
    /// Gunicorn's arguments for the worker class and the app.
    pub(crate) fn args(self) -> &'static [&'static str] {
        match self {
            App::FastApi => &["-k", "uvicorn.workers.UvicornWorker", "app:app"],
            App::Wsgi => &["-k", "gthread", "--threads", "8", "wsgi_app:app"],
        }
    }

    /// Environment for Gunicorn: the WSGI app gets lb_drain through the
    /// hooks in `lab/app/gunicorn_conf.py`.
    pub(crate) fn env(self) -> &'static [(&'static str, &'static str)] {
        match self {
            App::FastApi => &[],
            App::Wsgi => &[("LB_LAB_DRAIN_HOOK", "1")],
        }
    }
}

/// `LB_DRAIN_ALLOW` for lb_drain: the LB's addresses, where the daemon's
/// drain notice comes from (clients reaching the backend through the VIP
/// keep their own address, and get 403).
pub(crate) fn drain_allow() -> String {
    format!("{},{}", addr::v4(addr::LB_HOST), addr::v6(addr::LB_HOST))
}

/// A line of the master's events log (written by `lab/app/gunicorn_conf.py`).
#[derive(Clone, Debug, Deserialize)]
pub struct Event {
    pub event: String,
    pub t: f64,
    pub pid: u32,
}

/// Every event in the log at `path` (none before the first start).
pub(crate) fn events(path: &Path) -> Result<Vec<Event>> {
    match std::fs::read_to_string(path) {
        Ok(t) => Ok(t
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// The worker pids Gunicorn booted ("Booting worker with pid: N").
pub fn booted_workers(log: &str) -> BTreeSet<u32> {
    pids_after(log, "Booting worker with pid: ")
}

/// The pids that logged lb_drain's "lb_drain: pid N draining" line: the
/// processes that saw the drain flag.
pub fn saw_drain(log: &str) -> BTreeSet<u32> {
    log.lines()
        .filter(|l| l.contains(" draining: every response now says Connection: close"))
        .flat_map(|l| pids_after(l, "lb_drain: pid "))
        .collect()
}

fn pids_after(text: &str, marker: &str) -> BTreeSet<u32> {
    text.match_indices(marker)
        .filter_map(|(i, _)| {
            let rest = &text[i + marker.len()..];
            let end = rest
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(rest.len());
            rest[..end].parse().ok()
        })
        .collect()
}

/// [`booted_workers`] and [`saw_drain`] of the last Gunicorn run logged in
/// the file at `path` (a restarted backend appends to the same log).
pub fn workers_and_drain_sightings(path: &Path) -> (BTreeSet<u32>, BTreeSet<u32>) {
    let log = std::fs::read_to_string(path).unwrap_or_default();
    let last = last_run(&log);
    (booted_workers(last), saw_drain(last))
}

/// The log from the last "Starting gunicorn" line on.
fn last_run(log: &str) -> &str {
    log.rfind("Starting gunicorn").map_or(log, |i| &log[i..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_last_run_counts() {
        let log = "[INFO] Starting gunicorn 27.0.1\n[INFO] Booting worker with pid: 5\n\
                   [INFO] Starting gunicorn 27.0.1\n[INFO] Booting worker with pid: 9\n";
        assert_eq!(booted_workers(last_run(log)), BTreeSet::from([9]));
    }

    #[test]
    fn reads_worker_pids_and_drain_sightings() {
        let log = "[2026-12-05 17:00:00 +0000] [100] [INFO] Booting worker with pid: 101\n\
                   [2026-12-05 17:00:00 +0000] [100] [INFO] Booting worker with pid: 102\n\
                   lb_drain: pid 102 draining: every response now says Connection: close\n\
                   lb_drain: pid 101 no longer draining\n\
                   lb_drain: pid 7 draining: every response now says Connection: close\n";
        assert_eq!(booted_workers(log), BTreeSet::from([101, 102]));
        assert_eq!(saw_drain(log), BTreeSet::from([7, 102]));
    }
}
