//! No request lost under load in the default mode (on_drain with
//! `shutdown_when = "idle"`: on_drain.rs).

use std::time::Duration;

use lb_lab::{LoadRun, Tool};

use super::{assert_drained, default_mode, load_spec};
use crate::support::{
    TARGET, assert_clean, assert_no_connection_after_drain, drain, finish_long,
    first_requests_since, lab, now, start_daemon, start_long, wait_served,
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
