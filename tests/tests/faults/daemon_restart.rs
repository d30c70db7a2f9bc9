//! The daemon is SIGKILLed and restarted, and meanwhile the LB namespace's
//! neighbour table is flushed: the MACs the data plane forwards with are
//! then only in the pinned maps.

use std::time::Duration;

use lb_tests::lab_support::backends;

use crate::support::{
    Load, Rig, TARGET, assert_no_failure, open_streams, repicked, sleep_s, totals,
};

/// Zero failed requests, zero broken streams, no flow moved: the restarted
/// daemon takes the pinned MACs and states as its starting truth.
#[test]
fn faults_daemon_sigkill_and_neighbour_flush_break_no_connection() {
    println!("== faults: daemon SIGKILL, neighbour table flushed, restart, under load");
    // MACs from the neighbour table, not the config.
    let mut rig = Rig::up("flt-restart", |c| {
        for b in &mut c.vip[0].backend {
            b.mac = None;
        }
    });
    let streams = open_streams(&rig, 8, 1);
    let repicked_before = repicked(&rig);
    let load = Load::start(&rig.lab, 8.0);
    sleep_s(1.5);

    rig.daemon.kill9();
    let lb = rig.lab.lb_ns();
    lb.ip(&["neigh", "flush", "all"]).expect("ip neigh flush");
    let neigh = lb.ip(&["neigh", "show"]).expect("ip neigh show");
    for b in rig.lab.backends() {
        let entry = neigh
            .lines()
            .find(|l| l.starts_with(&format!("{} ", b.ipv4())));
        assert!(
            entry.is_none_or(|l| !l.contains(b.mac())),
            "{}'s neighbour entry survived the flush: {entry:?}",
            b.name()
        );
    }
    rig.daemon.restart().expect("daemon restarts");
    let status = rig
        .daemon
        .wait_ready(Duration::from_secs(20))
        .expect("daemon answers");
    assert_eq!(status["adopted"], true, "{status:#}");
    let after = backends(&status);
    for b in rig.lab.backends() {
        let s = &after[b.name()];
        assert_eq!(s["state"], "active", "{}: {s:#}", b.name());
        assert_eq!(s["mac"], b.mac(), "{} keeps its pinned MAC", b.name());
    }
    let log = rig.daemon.log_tail(200);
    assert!(
        log.contains("adopted backends start from the pinned MACs"),
        "the daemon says it seeded from the pins:\n{log}"
    );
    println!("  restarted: every backend active with its pinned MAC (neighbour table flushed)");

    let results = load.finish();
    let s = streams.finish();
    let (requests, failures) = totals(&results);
    let moved = repicked(&rig) - repicked_before;
    println!(
        "  daemon restart: {requests} requests, {failures} failed; streams {} of {} complete \
         ({} on {TARGET}); flows re-picked {moved}",
        s.complete, s.total, s.complete_on_target
    );
    assert_no_failure(&results);
    assert!(s.broken.is_empty(), "broken streams: {:?}", s.broken);
    assert_eq!(moved, 0, "no flow moved");
    rig.down();
}
