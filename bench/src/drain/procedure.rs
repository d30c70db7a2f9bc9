//! One drain of web-2 under load, by one procedure, and what it cost:
//! client-side failures by kind, what web-2 broke, when its last new
//! connection came and when it had none left. Then web-2 is put back.

use std::{
    collections::BTreeMap,
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result, bail, ensure};
use lb_lab::{
    Backend, Daemon, Lab, LoadRun, Request,
    client::{InFlight, unix_time},
    nginx::Nginx,
};
use lb_userspace::api::types::{BackendStatus, DrainOutcome};
use serde::{Deserialize, Serialize};

use super::{
    nginx::{Break, error_log_breaks, nginx_conf},
    plan::{LOADS, LONG_EACH, LONG_PATHS, Procedure, RequestKind, TARGET},
};

/// What one run measured.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct RunFigures {
    /// Client-side failed requests (no response or not 2xx) by load kind,
    /// and long requests that did not complete with their full body.
    pub failed: BTreeMap<RequestKind, u64>,
    pub requests: u64,
    /// Requests answered, by load kind.
    #[serde(default)]
    pub requests_by_kind: BTreeMap<RequestKind, u64>,
    /// TCP resets web-2 sent (its namespace's Tcp OutRsts) over the run.
    pub resets_sent: u64,
    /// Requests in web-2's access log that got no response (the app saw
    /// them, the connection went away first).
    pub no_response: u64,
    /// Nginx error log lines naming web-2, by kind (Nginx only).
    pub error_log: BTreeMap<Break, u64>,
    /// ms from the command to the first request of the last new connection
    /// web-2 saw (negative: the last one came before the command).
    pub last_new_conn_ms: f64,
    /// ms from the command until web-2 had no connections left: Nginx, its
    /// master exited; lb, the drain ended (`lb drain --wait` returned
    /// DRAINED).
    pub until_empty_ms: f64,
    /// ms from the command until web-2's Gunicorn master exited.
    pub master_exit_ms: f64,
    /// ms from the command until SIGTERM reached the master.
    pub sigterm_ms: f64,
    /// Long requests served by web-2 (of the ones that completed).
    pub long_on_target: u64,
    /// The failing loads' failures by the tool's own classes (`connect`,
    /// `read`, `write`, `timeout`, `other`, `non_2xx`; non-zero ones only),
    /// by name: the report lists and sums them, never looks one up.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub failed_detail: BTreeMap<RequestKind, BTreeMap<String, u64>>,
    /// hey's error messages, with counts.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub failed_messages: BTreeMap<RequestKind, Vec<String>>,
    /// lb: ms from the command until `lb drain` returned (the flip is done).
    #[serde(default)]
    pub command_returned_ms: f64,
    /// lb: the drain's outcome as `lb status` shows it.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub outcome: String,
}

/// Where the lab's pieces are.
pub struct Setup<'a> {
    pub lab: &'a Lab,
    pub daemon: &'a mut Daemon,
    pub nginx: &'a Nginx,
}

/// Web-2's TCP counters (its namespace's /proc/net/snmp).
fn out_rsts(b: &Backend) -> Result<u64> {
    let text = b.ns().run(&["cat", "/proc/net/snmp"])?;
    let mut tcp = text.lines().filter(|l| l.starts_with("Tcp:"));
    let (Some(names), Some(values)) = (tcp.next(), tcp.next()) else {
        bail!("no Tcp lines in /proc/net/snmp")
    };
    names
        .split_whitespace()
        .zip(values.split_whitespace())
        .find(|(n, _)| *n == "OutRsts")
        .and_then(|(_, v)| v.parse().ok())
        .context("no OutRsts in /proc/net/snmp")
}

fn long_requests(lab: &Lab, base: &str) -> Vec<(String, InFlight)> {
    let mut v = Vec::new();
    for _ in 0..LONG_EACH {
        for p in LONG_PATHS {
            let req = Request::get(format!("{base}{p}")).timeout(Duration::from_secs(30));
            v.push((p.to_owned(), lab.spawn_request(req)));
        }
    }
    v
}

/// A complete response with its whole body; the backend that served it.
fn served_by(path: &str, r: &lb_lab::Response) -> Option<String> {
    if !r.ok() {
        return None;
    }
    let name = r.body.split([' ', '\n']).next()?.to_owned();
    if path.starts_with("/stream") {
        let want: String = (0..10).map(|i| format!("{name} chunk {i}\n")).collect();
        (r.body == want).then_some(name)
    } else {
        (r.body == name).then_some(name)
    }
}

/// Polls until web-2 has served `n` requests from `client` since `since`.
fn wait_served(b: &Backend, client: &str, since: f64, n: usize) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let served = b
            .access_log()?
            .iter()
            .filter(|e| e.t >= since && e.client.starts_with(client))
            .count();
        if served >= n {
            return Ok(());
        }
        ensure!(
            Instant::now() < deadline,
            "{} served only {served} requests from {client} in 15 s",
            b.name()
        );
        thread::sleep(Duration::from_millis(50));
    }
}

/// One drain of web-2 by `proc`, then web-2 back in service.
pub fn run(setup: &mut Setup<'_>, proc: Procedure) -> Result<RunFigures> {
    let lab = setup.lab;
    let web2 = lab.backend(TARGET)?;
    let (base, client) = match proc {
        Procedure::Nginx => (
            format!("http://{}", lab.lb_host().ipv4),
            format!("{}:", lab.lb_host().ipv4),
        ),
        Procedure::Lb | Procedure::LbIdle => (
            format!("http://{}", lab.vip()),
            format!("{}:", lab.client_host().ipv4),
        ),
    };
    let upstream = format!("upstream: \"http://{}:80", web2.ipv4());
    let err_from = std::fs::metadata(setup.nginx.error_log()).map_or(0, |m| m.len() as usize);
    let rsts0 = out_rsts(web2)?;
    let since = unix_time();

    let long = long_requests(lab, &base);
    let loads = LOADS
        .iter()
        .map(|k| LoadRun::spawn(lab, k.load_spec(&format!("{base}/"))))
        .collect::<Result<Vec<_>>>()?;
    wait_served(web2, &client, since, 40)?;

    // The command.
    let t0 = unix_time();
    let mut fig = RunFigures::default();
    match proc {
        Procedure::Nginx => {
            setup
                .nginx
                .reload(&nginx_conf(lab, Some(TARGET)))
                .context("marking web-2 down")?;
            let pid = web2.master_pid()?;
            // SAFETY: plain syscall; the pid is web-2's Gunicorn master (our child).
            if unsafe { libc::kill(pid.cast_signed(), libc::SIGTERM) } != 0 {
                bail!(
                    "SIGTERM to web-2's master: {}",
                    std::io::Error::last_os_error()
                );
            }
            ensure!(
                web2.wait_exit(Duration::from_secs(45))?,
                "web-2's master did not exit within 45 s of SIGTERM"
            );
            fig.until_empty_ms = (unix_time() - t0) * 1000.0;
        }
        Procedure::Lb | Procedure::LbIdle => {
            let out = setup.daemon.lb(&["drain", TARGET])?;
            fig.command_returned_ms = (unix_time() - t0) * 1000.0;
            ensure!(
                out.status.success(),
                "lb drain: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let wait = setup
                .daemon
                .lb_timeout(&["drain", TARGET, "--wait"], Duration::from_secs(45))?;
            let done = unix_time();
            let b: BackendStatus = serde_json::from_value(setup.daemon.backend_status(TARGET)?)
                .context("web-2's status")?;
            let d = b.drain.as_ref();
            d.and_then(|d| d.outcome)
                .map_or("none", DrainOutcome::as_str)
                .clone_into(&mut fig.outcome);
            let finished = d.and_then(|d| d.finished_at).unwrap_or(done);
            fig.until_empty_ms = (finished - t0) * 1000.0;
            if !wait.status.success() {
                eprintln!(
                    "drain: lb drain --wait exited {:?}: {}",
                    wait.status.code(),
                    String::from_utf8_lossy(&wait.stderr).trim()
                );
            }
            ensure!(
                web2.wait_exit(Duration::from_secs(45))?,
                "web-2's master did not exit within 45 s of the drain"
            );
        }
    }

    // The loads end on their own; then the figures.
    let mut failed = BTreeMap::new();
    for (k, l) in LOADS.into_iter().zip(loads) {
        let r = l.join()?;
        fig.requests += r.requests;
        fig.requests_by_kind.insert(k, r.requests);
        let n = r.errors.total() + r.non_2xx;
        failed.insert(k, n);
        if n > 0 {
            let e = &r.errors;
            let classes: BTreeMap<String, u64> = [
                ("connect", e.connect),
                ("read", e.read),
                ("write", e.write),
                ("timeout", e.timeout),
                ("other", e.other),
                ("non_2xx", r.non_2xx),
            ]
            .into_iter()
            .filter(|(_, n)| *n > 0)
            .map(|(c, n)| (c.to_owned(), n))
            .collect();
            fig.failed_detail.insert(k, classes);
            if !r.error_messages.is_empty() {
                fig.failed_messages.insert(
                    k,
                    r.error_messages
                        .iter()
                        .map(|(c, m)| format!("{c}× {m}"))
                        .collect(),
                );
            }
        }
    }
    let mut long_failed = 0;
    for (path, r) in long {
        let r = r.join()?;
        match served_by(&path, &r) {
            Some(name) => fig.long_on_target += u64::from(name == TARGET),
            None => long_failed += 1,
        }
    }
    failed.insert(RequestKind::Long, long_failed);
    fig.failed = failed;
    fig.resets_sent = out_rsts(web2)?.saturating_sub(rsts0);
    if proc == Procedure::Nginx {
        fig.error_log = error_log_breaks(&setup.nginx.error_log(), err_from, &upstream);
    }
    let log = web2.access_log()?;
    let ours = |e: &&lb_lab::AccessEntry| {
        e.t >= since && e.client.starts_with(&client) && e.path != "/health" && e.path != "/drain"
    };
    fig.no_response = log
        .iter()
        .filter(ours)
        .filter(|e| e.status.is_none())
        .count() as u64;
    fig.last_new_conn_ms = log
        .iter()
        .filter(ours)
        .filter(|e| e.first)
        .map(|e| (e.t - t0) * 1000.0)
        .fold(f64::NEG_INFINITY, f64::max);
    let events = web2.events()?;
    let after = |name: &str| {
        events
            .iter()
            .filter(|e| e.event == name && e.t >= t0 - 0.01)
            .map(|e| (e.t - t0) * 1000.0)
            .fold(f64::NAN, f64::min)
    };
    fig.sigterm_ms = after("sigterm");
    fig.master_exit_ms = after("exit");
    if proc == Procedure::Nginx && fig.master_exit_ms.is_finite() {
        // The master's own exit record beats our 20 ms polling.
        fig.until_empty_ms = fig.master_exit_ms;
    }
    ensure!(
        fig.sigterm_ms.is_finite() && fig.master_exit_ms.is_finite(),
        "web-2's events log has no sigterm/exit after the command: {events:?}"
    );
    ensure!(
        fig.last_new_conn_ms.is_finite(),
        "web-2's access log shows no connection from {client} in the run"
    );

    restore(setup, proc)?;
    Ok(fig)
}

/// web-2 back: Gunicorn restarted and ready, and back in the balancer.
fn restore(setup: &mut Setup<'_>, proc: Procedure) -> Result<()> {
    let lab = setup.lab;
    lab.backend(TARGET)?.restart()?;
    match proc {
        Procedure::Nginx => {
            setup.nginx.reload(&nginx_conf(lab, None))?;
            setup
                .nginx
                .wait_workers(crate::xdp::online_cpus(), Duration::from_secs(30))?;
        }
        Procedure::Lb | Procedure::LbIdle => {
            let out = setup.daemon.lb(&["enable", TARGET])?;
            ensure!(
                out.status.success(),
                "lb enable: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            setup.daemon.wait_all_active(Duration::from_secs(20))?;
        }
    }
    // Let the last connections of the run close.
    thread::sleep(Duration::from_millis(500));
    Ok(())
}
