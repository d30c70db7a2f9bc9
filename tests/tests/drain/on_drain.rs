//! `on_drain` + `shutdown_when = "idle"`, the mode that loses nothing with
//! any client, with the backend side as users get it: the lb_drain package
//! (integrations/python) answers the notice and makes every worker answer
//! `Connection: close` from then on. Once with Gunicorn + Uvicorn workers
//! serving FastAPI (`app.add_middleware(DrainMiddleware)`), once with
//! Gunicorn gthread workers serving a plain WSGI app (lb_drain's Gunicorn
//! hooks, the app untouched).

use std::{
    collections::BTreeMap,
    sync::atomic::{AtomicBool, Ordering},
    thread,
    time::Duration,
};

use lb_lab::{AccessEntry, App, BackendOpts, ConfigSpec, LoadRun, Tool, gunicorn};

use super::{assert_drained, load_spec};
use crate::support::{
    self, TARGET, assert_clean, assert_no_connection_after_drain, drain, lab, now, sample,
    start_daemon, wait_served,
};

/// FastAPI under Uvicorn workers: keep-alive POST (hey) and wrk GET and
/// POST (which never retries) lose nothing, SIGTERM comes only once nothing
/// is live, and both workers saw the drain.
#[test]
fn drain_with_on_drain_and_idle_shutdown_loses_no_request() {
    idle_drain_loses_nothing("drn-idle", App::FastApi);
}

/// The same with web-2 a plain WSGI app under gthread workers (what a Flask
/// or Django app is to Gunicorn), given lb_drain by its Gunicorn hooks.
#[test]
fn drain_with_on_drain_and_idle_shutdown_loses_no_request_wsgi_gthread() {
    idle_drain_loses_nothing("drn-wsgi", App::Wsgi);
}

/// How long after the drain's start the notice has surely been taken in
/// (it is sent at once and served in milliseconds).
const NOTICE_SETTLE_S: f64 = 1.0;

/// Requests that started after `after`, per connection id. Every entry must
/// have one (both lab apps tag connections), or the count would prove nothing.
fn requests_per_connection_after(served: &[AccessEntry], after: f64) -> BTreeMap<String, usize> {
    let mut per_conn = BTreeMap::new();
    for e in served.iter().filter(|e| e.t > after) {
        let conn = e
            .conn
            .clone()
            .unwrap_or_else(|| panic!("no connection id: {e:?}"));
        *per_conn.entry(conn).or_insert(0) += 1;
    }
    per_conn
}

fn idle_drain_loses_nothing(prefix: &str, app: App) {
    let lab = lab(prefix);
    let web2 = lab.backend(TARGET).unwrap();
    if web2.app() != app {
        web2.set_app(app);
        web2.restart().expect("web-2 restarts with the other app");
    }
    let spec = ConfigSpec {
        backend: BackendOpts {
            on_drain: true,
            shutdown_when: Some("idle".into()),
            drain_timeout: Some(Duration::from_secs(15)),
            ..BackendOpts::default()
        },
        ..ConfigSpec::default()
    };
    let daemon = start_daemon(&lab, &spec);

    let since = now();
    let loads = [
        (
            "hey keep-alive POST 1000 B (c=4)",
            load_spec(&lab, Tool::Hey, true, true, 8),
        ),
        (
            "wrk keep-alive GET (c=4)",
            load_spec(&lab, Tool::Wrk, true, false, 8),
        ),
        (
            "wrk keep-alive POST 1000 B (c=4)",
            load_spec(&lab, Tool::Wrk, true, true, 8),
        ),
    ]
    .map(|(label, spec)| (label, LoadRun::spawn(&lab, spec).unwrap()));
    wait_served(&lab, web2, since, 30);

    let stop = AtomicBool::new(false);
    let (run, samples) = thread::scope(|s| {
        let sampler = s.spawn(|| sample(&daemon, &stop, Duration::from_secs(45)));
        let run = drain(&lab, &daemon, &[], Duration::from_secs(40));
        stop.store(true, Ordering::Relaxed);
        (run, sampler.join().unwrap())
    });
    assert!(
        web2.wait_exit(Duration::from_secs(35)).unwrap(),
        "master still running"
    );
    let b = support::poll_backend(
        &daemon,
        TARGET,
        "the shutdown outcome",
        Duration::from_secs(5),
        |b| b["last_action"]["kind"] == "shutdown",
    );
    let started = b["drain"]["started_at"].as_f64().unwrap();
    // Since the loads started: a restart into the other app sent one before.
    let sigterms: Vec<f64> = web2
        .sigterm_events()
        .unwrap()
        .into_iter()
        .filter(|&t| t >= since)
        .collect();
    let client = support::client_ip(&lab);
    let served: Vec<_> = web2
        .access_log()
        .unwrap()
        .into_iter()
        .filter(|e| e.client.starts_with(&client))
        .collect();
    let last_end = served
        .iter()
        .filter_map(|e| e.t_end)
        .fold(f64::NEG_INFINITY, f64::max);
    let busy = samples.iter().filter(|s| s.live > 0).count();
    let idle_at = samples
        .iter()
        .find(|s| s.live == 0 && !s.signal.is_empty())
        .map_or(f64::NAN, |s| s.t - started);
    println!(
        "drain: initial flows {}, live 0 first seen at +{idle_at:.3} s, drained at +{:.3} s, SIGTERM at +{:.3} s, last request on {TARGET} ended at +{:.3} s; {} status samples, {busy} with live > 0",
        b["drain"]["initial_flows"],
        run.done_at - started,
        sigterms.first().map_or(f64::NAN, |t| t - started),
        last_end - started,
        samples.len()
    );
    assert_eq!(sigterms.len(), 1, "SIGTERMs received: {sigterms:?}");
    assert!(
        sigterms[0] >= last_end,
        "SIGTERM at +{:.3} s while a request on {TARGET} ran until +{:.3} s",
        sigterms[0] - started,
        last_end - started
    );
    for s in &samples {
        assert!(
            s.signal != "sent" || s.live == 0,
            "signal sent while {} flows were live: {s:?}",
            s.live
        );
        assert!(
            s.outcome.is_none() || s.state == "drained",
            "an ended drain not DRAINED: {s:?}"
        );
    }
    assert_eq!(b["last_action"]["kind"], "shutdown", "{b:#}");
    assert_eq!(b["last_action"]["ok"], true, "{b:#}");

    for (label, l) in loads {
        assert_clean(label, &l.join().unwrap());
    }
    assert_no_connection_after_drain(&lab, &daemon, web2, &run);
    assert_drained(&run, &b);

    // `Connection: close` did its work: after the notice, a keep-alive
    // connection carries one more request at most (its answer closes it).
    // Without it the drain would still end, but only when the load stopped.
    let late = requests_per_connection_after(&served, started + NOTICE_SETTLE_S);
    let reused: Vec<_> = late.iter().filter(|(_, n)| **n > 1).collect();
    println!(
        "connections of the client on {TARGET} with requests from +{NOTICE_SETTLE_S} s on: {}, most requests on one: {}",
        late.len(),
        late.values().max().unwrap_or(&0)
    );
    assert!(
        reused.is_empty(),
        "connections on {TARGET} still reused more than {NOTICE_SETTLE_S} s after the drain notice \
         (the app did not answer Connection: close): {reused:?}"
    );

    // The notice reached one worker; lb_drain's flag must have reached every
    // one (each logs it once, on its own: see integrations/python).
    let (workers, saw) = web2.workers_and_drain_sightings();
    println!("{app:?} workers of {TARGET}: {workers:?}; saw the drain: {saw:?}");
    assert_eq!(
        workers.len(),
        gunicorn::WORKERS,
        "workers booted by {TARGET}'s last Gunicorn; its log:\n{}",
        web2.log_tail(40)
    );
    let missed: Vec<_> = workers.difference(&saw).collect();
    assert!(
        missed.is_empty(),
        "workers of {TARGET} that never saw the drain: {missed:?}; its log:\n{}",
        web2.log_tail(40)
    );
}

/// `lb enable` after an `on_drain` notice sends the same URL a `DELETE`: the
/// backend, put back in service without a restart, stops closing every
/// connection. Checked on lb_drain's own endpoint.
#[test]
fn enable_after_on_drain_undoes_the_notice() {
    let lab = lab("drn-undo");
    let web2 = lab.backend(TARGET).unwrap();
    let spec = ConfigSpec {
        backend: BackendOpts {
            on_drain: true,
            ..BackendOpts::default()
        },
        ..ConfigSpec::default()
    };
    let daemon = start_daemon(&lab, &spec);
    assert!(!web2.is_draining().expect("web-2's drain endpoint answers"));
    let out = daemon
        .lb(&["drain", TARGET, "--no-signal"])
        .expect("lb drain runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    support::poll("web-2 takes the notice", Duration::from_secs(10), || {
        web2.is_draining().ok().filter(|d| *d)
    });
    let out = daemon.lb(&["enable", TARGET]).expect("lb enable runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    support::poll(
        "web-2 serves normally again",
        Duration::from_secs(10),
        || web2.is_draining().ok().filter(|d| !*d),
    );
    let b = daemon.backend_status(TARGET).expect("status");
    assert_eq!(b["state"], "active", "{b}");
    assert_eq!(b["last_action"]["kind"], "on_drain_undo", "{b}");
    assert_eq!(b["last_action"]["ok"], true, "{b}");
    println!("enable after on_drain: last action {}", b["last_action"]);
}
