//! No request lost under load: the default mode, and on_drain with
//! `shutdown_when = "idle"`.

use std::{
    sync::atomic::{AtomicBool, Ordering},
    thread,
    time::Duration,
};

use lb_lab::{BackendOpts, ConfigSpec, LoadRun, Tool};

use super::{assert_drained, default_mode, load_spec};
use crate::support::{
    self, TARGET, assert_clean, assert_no_connection_after_drain, drain, finish_long,
    first_requests_since, lab, now, sample, start_daemon, start_long, wait_served,
};

/// Default mode under load: keep-alive GET (hey: Go retries idempotent
/// requests on reused connections), fresh-connection GET and POST, and long
/// /slow and /stream requests in flight on web-2. Nothing fails.
#[test]
fn drain_under_load_loses_no_request_in_the_default_mode() {
    let lab = lab("drn-load");
    let daemon = start_daemon(&lab, &default_mode());
    let web2 = lab.backend(TARGET).unwrap();

    let slow = start_long(&lab, &daemon, "/slow?seconds=5", 8, Duration::from_secs(30));
    let stream = start_long(
        &lab,
        &daemon,
        "/stream?seconds=5",
        8,
        Duration::from_secs(30),
    );
    let since = now();
    let loads = [
        (
            "hey keep-alive GET (c=4)",
            load_spec(&lab, Tool::Hey, true, false, 8),
        ),
        (
            "hey fresh-connection GET (c=4)",
            load_spec(&lab, Tool::Hey, false, false, 8),
        ),
        (
            "hey fresh-connection POST 1000 B (c=4)",
            load_spec(&lab, Tool::Hey, false, true, 8),
        ),
    ]
    .map(|(label, spec)| (label, LoadRun::spawn(&lab, spec).unwrap()));
    wait_served(&lab, web2, since, 30);

    let run = drain(&lab, &daemon, &[], Duration::from_secs(40));
    let b = daemon.backend_status(TARGET).unwrap();
    let started = b["drain"]["started_at"].as_f64().unwrap();
    println!(
        "drain: `lb drain` returned at +{:.3} s, drained at +{:.3} s, initial flows {}, SIGTERM at +{:.3} s",
        run.returned_at - started,
        run.done_at - started,
        b["drain"]["initial_flows"],
        web2.sigterm_events()
            .unwrap()
            .first()
            .map_or(f64::NAN, |t| t - started)
    );
    for (label, l) in loads {
        assert_clean(label, &l.join().unwrap());
    }
    assert!(finish_long(slow) >= 1, "no /slow request ran on {TARGET}");
    assert!(
        finish_long(stream) >= 1,
        "no /stream request ran on {TARGET}"
    );
    assert_eq!(web2.sigterm_events().unwrap().len(), 1);

    let last_first = first_requests_since(&lab, web2, started - 1.0)
        .iter()
        .map(|e| e.t - started)
        .fold(f64::NEG_INFINITY, f64::max);
    println!(
        "latest first request of a connection on {TARGET}: {last_first:+.3} s from the drain's start"
    );
    assert_no_connection_after_drain(&lab, &daemon, web2, &run);
    assert_drained(&run, &b);
}

/// `on_drain` (the app answers `Connection: close` from then on) with
/// `shutdown_when = "idle"`: also keep-alive POST and wrk (which never
/// retries) lose nothing, and SIGTERM comes only once nothing is live.
#[test]
fn drain_with_on_drain_and_idle_shutdown_loses_no_request() {
    let lab = lab("drn-idle");
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
    let web2 = lab.backend(TARGET).unwrap();

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
    let sigterms = web2.sigterm_events().unwrap();
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
}
