//! The daemon is SIGKILLed and restarted, and meanwhile the LB namespace's
//! neighbour table is flushed: the MACs the data plane forwards DSR frames
//! with are then only in the pinned maps (NAT frames are routed by the FIB,
//! which resolves its neighbours again).

use std::time::Duration;

use lb_tests::lab_support::backends;

use crate::{
    load::{Load, assert_no_failure},
    streams::{assert_unbroken, open_streams, report},
    support::Rig,
};

/// Zero failed requests, zero broken streams, no flow moved, on both VIPs:
/// the restarted daemon takes the pinned MACs and states as its starting
/// truth.
#[test]
fn faults_daemon_sigkill_and_neighbour_flush_break_no_connection() {
    println!("== faults: daemon SIGKILL, neighbour table flushed, restart, under load");
    // MACs from the neighbour table, not the config.
    let mut rig = Rig::up("flt-restart", |c| {
        for b in c.vip.iter_mut().flat_map(|v| &mut v.backend) {
            b.mac = None;
        }
    });
    let streams = open_streams(&rig, 8, 1);
    let repicked_before = rig.modes.map(|m| rig.repicked(&m));
    let load = Load::start(&rig, 8.0);
    rig.wait_load_on_targets();

    rig.daemon.kill9();
    let lb = rig.lab.lb_ns();
    lb.ip(&["neigh", "flush", "all"]).expect("ip neigh flush");
    let neigh = lb.ip(&["neigh", "show"]).expect("ip neigh show");
    // DSR backends only: NAT packets are routed by the kernel's FIB, which
    // resolves their next hops again at once under load.
    for b in rig.lab.backends().iter().filter(|b| !b.is_nat()) {
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
        if !b.is_nat() {
            assert_eq!(s["mac"], b.mac(), "{} keeps its pinned MAC", b.name());
        }
    }
    let log = rig.daemon.log_tail(200);
    assert!(
        log.contains("adopted backends start from the pinned MACs"),
        "the daemon says it seeded from the pins:\n{log}"
    );
    println!(
        "  restarted: every backend active, each DSR one with its pinned MAC (neighbour \
         table flushed)"
    );

    let results = load.finish();
    let s = streams.finish();
    let moved: Vec<u64> = (0..2)
        .map(|i| rig.repicked(&rig.modes[i]) - repicked_before[i])
        .collect();
    report("daemon restart", &results, &s, |m| {
        format!("; flows re-picked {}", moved[usize::from(m.label == "NAT")])
    });
    assert_no_failure(&results);
    assert_unbroken(&s, 1);
    assert_eq!(moved, [0, 0], "no flow moved");
    rig.down();
}
