//! The drain suite's load scenario, shared by the DSR drain tests and the
//! NAT ones: long /slow and /stream requests held on the target, hey
//! keep-alive GET (Go retries idempotent requests on reused connections),
//! fresh-connection GET and fresh-connection POST, then `lb drain`.

use std::time::Duration;

use lb_lab::{Daemon, Lab, LoadRun, LoadSpec, Tool};
use serde_json::Value;

use crate::support::{
    DrainRun, TARGET, assert_clean, drain, finish_long, now, start_long, wait_served,
};

/// What the scenario saw, for the caller's own checks.
// Each test binary that includes this file reads only the fields it checks.
#[allow(dead_code)]
pub struct MixedLoadDrain {
    pub run: DrainRun,
    /// The target's status once the drain ended.
    pub status: Value,
    /// When the load began (unix time).
    pub since: f64,
    /// When the drain flipped the tables (unix time).
    pub started: f64,
}

/// Drains the target under that load, on the VIP at `url`. Asserts that no
/// load saw a failure, that long requests ran on the target and finished,
/// and that the target got exactly one SIGTERM. `what` names the run in the
/// printed figures.
pub fn drain_under_mixed_load(lab: &Lab, daemon: &Daemon, url: &str, what: &str) -> MixedLoadDrain {
    let web2 = lab.backend(TARGET).unwrap();
    let slow = start_long(lab, daemon, "/slow?seconds=5", 8, Duration::from_secs(30));
    let stream = start_long(lab, daemon, "/stream?seconds=5", 8, Duration::from_secs(30));
    let since = now();
    let loads = [
        ("hey keep-alive GET (c=4)", hey(url, true, false)),
        ("hey fresh-connection GET (c=4)", hey(url, false, false)),
        (
            "hey fresh-connection POST 1000 B (c=4)",
            hey(url, false, true),
        ),
    ]
    .map(|(label, spec)| (label, LoadRun::spawn(lab, spec).unwrap()));
    wait_served(lab, web2, since, 30);

    let run = drain(lab, daemon, &[], Duration::from_secs(40));
    let status = daemon.backend_status(TARGET).unwrap();
    let started = status["drain"]["started_at"].as_f64().unwrap();
    println!(
        "{what}: `lb drain` returned at +{:.3} s, drained at +{:.3} s, initial flows {}, SIGTERM at +{:.3} s",
        run.returned_at - started,
        run.done_at - started,
        status["drain"]["initial_flows"],
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
    MixedLoadDrain {
        run,
        status,
        since,
        started,
    }
}

/// 4 connections of hey on `url` for 8 s: keep-alive or a fresh connection
/// per request, GET or a 1000-byte POST.
fn hey(url: &str, keepalive: bool, post: bool) -> LoadSpec {
    let mut s = LoadSpec::new(Tool::Hey, url.to_string());
    s.connections = 4;
    s.duration = Duration::from_secs(8);
    s.keepalive = keepalive;
    s.post_body = post.then_some(1000);
    s
}
