//! One lab backend: the real stack the project exists for, Gunicorn master +
//! 2 Uvicorn workers serving `lab/app/app.py` (or 2 gthread workers serving
//! `lab/app/wsgi_app.py`, see [`App`]), in its own namespace, with a pid file
//! (what `lb`'s `shutdown = { signal = "TERM", pid_file = ... }` reads), a
//! JSON access log and a master-events log (SIGTERM receipt). Both apps use
//! the shipped lb_drain package for the drain notice.

use std::{
    collections::BTreeSet,
    net::{Ipv4Addr, Ipv6Addr},
    path::{Path, PathBuf},
    sync::{Arc, Mutex, MutexGuard},
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result, bail};

use crate::{
    access::{self, AccessEntry},
    client::{self, Request},
    gunicorn::{self, App, DRAIN_PATH, Event, GRACEFUL_TIMEOUT},
    host::Host,
    netns::Netns,
    proc::{Proc, Registry, tail},
};

/// How long a backend may take to answer /health after start (two Python
/// workers importing FastAPI take 1-2 s on these machines).
pub const BACKEND_READY_TIMEOUT: Duration = Duration::from_secs(30);

pub struct Backend {
    name: String,
    index: usize,
    ns: Arc<Netns>,
    host: Host,
    dir: PathBuf,
    callers: Callers,
    registry: Registry,
    app: Mutex<App>,
    /// Gunicorn's `--keep-alive` at its next start.
    keep_alive: Mutex<Duration>,
    proc: Mutex<Option<Proc>>,
    /// A NAT backend: Gunicorn on `:8000` only, no VIP, no ARP sysctls.
    nat: bool,
}

/// The namespaces the lab itself sends a backend's requests from.
pub(crate) struct Callers {
    /// Health polls: the client ns (the path the LB uses too).
    pub probe: Arc<Netns>,
    /// Drain notices: the LB ns, as lb's `on_drain` does (lb_drain answers
    /// no one else but loopback).
    pub notice: Arc<Netns>,
}

impl Backend {
    pub(crate) fn new(
        name: &str,
        index: usize,
        ns: Arc<Netns>,
        host: Host,
        dir: &Path,
        callers: Callers,
        registry: Registry,
    ) -> Backend {
        Backend {
            name: name.to_owned(),
            index,
            ns,
            host,
            dir: dir.to_owned(),
            callers,
            registry,
            app: Mutex::new(App::default()),
            keep_alive: Mutex::new(gunicorn::KEEP_ALIVE),
            proc: Mutex::new(None),
            nat: false,
        }
    }

    /// Makes it a NAT backend (before it starts).
    pub(crate) fn nat(mut self, nat: bool) -> Backend {
        self.nat = nat;
        self
    }

    /// True for a NAT backend (see [`crate::Lab::up_nat`]).
    pub fn is_nat(&self) -> bool {
        self.nat
    }

    /// The port its Gunicorn binds: 80 (the VIP's) for DSR, 8000 for NAT.
    pub fn port(&self) -> u16 {
        if self.nat {
            crate::addr::NAT_BACKEND_PORT
        } else {
            80
        }
    }

    /// "web-i".
    pub fn name(&self) -> &str {
        &self.name
    }

    /// i in web-i (1-based).
    pub fn index(&self) -> usize {
        self.index
    }

    pub fn ns(&self) -> &Netns {
        &self.ns
    }

    pub fn host(&self) -> &Host {
        &self.host
    }

    pub fn ipv4(&self) -> Ipv4Addr {
        self.host.ipv4
    }

    pub fn ipv6(&self) -> Option<Ipv6Addr> {
        self.host.ipv6
    }

    pub fn mac(&self) -> &str {
        &self.host.mac
    }

    /// Its veth inside its namespace.
    pub fn iface(&self) -> &str {
        &self.host.iface
    }

    /// `http://<its IPv4>[:8000]<path>`: straight to it, not through the VIP.
    pub fn url(&self, path: &str) -> String {
        match self.port() {
            80 => format!("http://{}{path}", self.host.ipv4),
            port => format!("http://{}:{port}{path}", self.host.ipv4),
        }
    }

    /// Gunicorn's pid file (the `pid_file` of lb's shutdown action).
    pub fn pid_file(&self) -> PathBuf {
        self.file("pid")
    }

    pub fn access_log_path(&self) -> PathBuf {
        self.file("access.jsonl")
    }

    pub fn events_path(&self) -> PathBuf {
        self.file("events.jsonl")
    }

    /// Gunicorn's own log (stdout and stderr).
    pub fn log_path(&self) -> PathBuf {
        self.file("log")
    }

    /// What it serves from its next start on (see [`Backend::restart`]).
    pub fn set_app(&self, app: App) {
        *self
            .app
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = app;
    }

    /// Gunicorn's `--keep-alive` from its next start on.
    pub fn set_keep_alive(&self, keep_alive: Duration) {
        *self
            .keep_alive
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = keep_alive;
    }

    pub fn app(&self) -> App {
        *self
            .app
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn file(&self, ext: &str) -> PathBuf {
        self.dir.join(format!("{}.{ext}", self.name))
    }

    fn lock(&self) -> MutexGuard<'_, Option<Proc>> {
        self.proc
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Starts Gunicorn (not waiting for it: see [`Backend::wait_ready`]).
    /// Errs if it is already running.
    pub fn start(&self) -> Result<()> {
        let mut slot = self.lock();
        if slot.as_ref().is_some_and(Proc::is_running) {
            bail!("{} is already running", self.name);
        }
        // A stale pid file would point lb's shutdown action at a dead (or
        // recycled) pid. (lb_drain's flag dies with the process group.)
        let _ = std::fs::remove_file(self.pid_file());
        let app = self.app();
        let keep_alive = *self
            .keep_alive
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let args = gunicorn::command_line(
            app,
            self.port(),
            self.host.ipv6.is_some(),
            keep_alive,
            &self.pid_file(),
        )?;
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut cmd = self.ns.exec(&args);
        cmd.envs(app.env().iter().copied())
            .env("LB_BACKEND_NAME", &self.name)
            .env("LB_ACCESS_LOG", self.access_log_path())
            .env("LB_EVENTS_LOG", self.events_path())
            .env("LB_DRAIN_ALLOW", gunicorn::drain_allow())
            // lb_drain's flag file goes there, so it goes with the lab dir.
            .env("XDG_RUNTIME_DIR", &self.dir)
            // Keep lab/app free of __pycache__, and uvicorn.workers' notice
            // that it moved to a separate package out of the logs.
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .env("PYTHONWARNINGS", "ignore::DeprecationWarning")
            .env("PYTHONUNBUFFERED", "1");
        *slot = Some(Proc::spawn(
            &self.name,
            cmd,
            Some(&self.log_path()),
            &self.registry,
        )?);
        Ok(())
    }

    /// Polls `GET /health` on its own address from the client namespace
    /// until 200, at most `timeout`. Fails at once if Gunicorn exited.
    pub fn wait_ready(&self, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            if !self.is_running() {
                bail!(
                    "{} exited while starting; its log ({}):\n{}",
                    self.name,
                    self.log_path().display(),
                    self.log_tail(30)
                );
            }
            let left = deadline.saturating_duration_since(Instant::now());
            let req = Request::get(self.url("/health")).timeout(
                left.min(Duration::from_secs(1))
                    .max(Duration::from_millis(100)),
            );
            if client::send(&self.callers.probe, &req)?.ok() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                bail!(
                    "{} not ready after {timeout:?}; its log:\n{}",
                    self.name,
                    self.log_tail(30)
                );
            }
            thread::sleep(Duration::from_millis(100));
        }
    }

    /// The Gunicorn master's pid, from its pid file (gone once it exited).
    pub fn master_pid(&self) -> Result<u32> {
        let p = self.pid_file();
        let text =
            std::fs::read_to_string(&p).with_context(|| format!("reading {}", p.display()))?;
        text.trim()
            .parse()
            .with_context(|| format!("bad pid in {}: {text:?}", p.display()))
    }

    /// True while the Gunicorn master we started has not exited (e.g. after
    /// lb's SIGTERM it stays true until the workers finished and it quit).
    pub fn is_running(&self) -> bool {
        self.lock().as_ref().is_some_and(Proc::is_running)
    }

    /// SIGTERM to the master (what lb's shutdown action does) and wait for it
    /// to exit: workers finish in-flight requests within the graceful timeout.
    pub fn stop_gracefully(&self) -> Result<()> {
        let slot = self.lock();
        let Some(p) = slot.as_ref() else {
            return Ok(());
        };
        if !p.is_running() {
            return Ok(());
        }
        p.signal(libc::SIGTERM)?;
        if p.wait_timeout(GRACEFUL_TIMEOUT + Duration::from_secs(10))?
            .is_none()
        {
            p.kill();
            bail!(
                "{} did not exit within {:?} of SIGTERM; killed",
                self.name,
                GRACEFUL_TIMEOUT
            );
        }
        Ok(())
    }

    /// Waits (bounded) for the master to exit on its own, e.g. after lb sent
    /// SIGTERM. True if it exited.
    pub fn wait_exit(&self, timeout: Duration) -> Result<bool> {
        match self.lock().as_ref() {
            Some(p) => Ok(p.wait_timeout(timeout)?.is_some()),
            None => Ok(true),
        }
    }

    /// SIGKILL to master and workers: a crash.
    pub fn kill(&self) {
        if let Some(p) = self.lock().as_ref() {
            p.kill();
        }
    }

    /// Stops it gracefully if running, starts it again and waits until ready.
    pub fn restart(&self) -> Result<()> {
        self.stop_gracefully()?;
        self.start()?;
        self.wait_ready(BACKEND_READY_TIMEOUT)
    }

    /// Sends the drain notice as lb does, from the LB namespace
    /// (`POST /lb/drain`: `Connection: close` on every response from now
    /// on), or undoes it (`DELETE /lb/drain`).
    pub fn set_draining(&self, on: bool) -> Result<()> {
        let url = self.url(DRAIN_PATH);
        let req = if on {
            Request::post(url, Vec::new())
        } else {
            Request::delete(url)
        };
        let r = client::send(&self.callers.notice, &req)?;
        if !r.ok() {
            bail!(
                "{} {} {DRAIN_PATH}: {:?} {}",
                self.name,
                req.method,
                r.status,
                r.error
            );
        }
        Ok(())
    }

    /// Whether its lb_drain endpoint says it is draining (`GET /lb/drain`
    /// from the LB namespace, as lb would ask).
    pub fn is_draining(&self) -> Result<bool> {
        let r = client::send(&self.callers.notice, &Request::get(self.url(DRAIN_PATH)))?;
        match (r.ok(), r.body.trim()) {
            (true, "draining") => Ok(true),
            (true, "not draining") => Ok(false),
            _ => bail!(
                "{} GET {DRAIN_PATH}: {:?} {:?} {}",
                self.name,
                r.status,
                r.body,
                r.error
            ),
        }
    }

    /// The worker pids its Gunicorn booted, and those that logged seeing the
    /// drain flag (lb_drain's "lb_drain: pid N draining" line).
    pub fn workers_and_drain_sightings(&self) -> (BTreeSet<u32>, BTreeSet<u32>) {
        gunicorn::workers_and_drain_sightings(&self.log_path())
    }

    /// Every request it logged, ordered by start time.
    pub fn access_log(&self) -> Result<Vec<AccessEntry>> {
        access::read(&self.access_log_path())
    }

    /// The first request of each connection opened at or after `since` (unix s).
    pub fn connections_since(&self, since: f64) -> Result<Vec<AccessEntry>> {
        Ok(access::connections_since(&self.access_log()?, since))
    }

    /// Unix times (s) at which its Gunicorn master received SIGTERM.
    pub fn sigterm_events(&self) -> Result<Vec<f64>> {
        Ok(self
            .events()?
            .into_iter()
            .filter(|e| e.event == "sigterm")
            .map(|e| e.t)
            .collect())
    }

    /// Every master event ("ready", "sigterm", "exit").
    pub fn events(&self) -> Result<Vec<Event>> {
        gunicorn::events(&self.events_path())
    }

    /// The last `lines` lines of its Gunicorn log.
    pub fn log_tail(&self, lines: usize) -> String {
        tail(&self.log_path(), lines)
    }
}
