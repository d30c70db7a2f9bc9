//! A health blip: the target's Gunicorn (master and workers) stops for 5 s
//! (SIGSTOP, as a long GC pause or CPU starvation would), long enough for the
//! health checks to call it unhealthy, then goes on (SIGCONT).

use std::time::Duration;

use lb_tests::lab_support::new_flows;

use crate::support::{
    Frozen, Load, Rig, TARGET, assert_no_failure, gunicorn_pids, open_streams, sleep_s, totals,
    wait_state,
};

/// Zero failed requests and zero broken streams: an unhealthy backend gets
/// no new connections and keeps the ones it has, which finish once it goes
/// on.
#[test]
fn faults_health_blip_breaks_no_connection() {
    println!("== faults: health blip (web-2's Gunicorn stopped 5 s) under load");
    let rig = Rig::up("flt-blip", |_| {});
    let streams = open_streams(&rig, 10, 2);
    let repicked_before = crate::support::repicked(&rig);
    let load = Load::start(&rig.lab, 10.0);
    sleep_s(1.5);

    let master = rig.lab.backend(TARGET).unwrap().master_pid().unwrap();
    let frozen = Frozen::stop(gunicorn_pids(master));
    let detect = wait_state(&rig, TARGET, "unhealthy", Duration::from_secs(5));
    let flows_at_detect = new_flows(&rig.daemon)[TARGET];
    println!("  {TARGET} unhealthy {detect:.2?} after SIGSTOP");
    sleep_s(5.0 - detect.as_secs_f64());
    // Counted before SIGCONT: the checks may pass again soon after it.
    let flows_while_unhealthy = new_flows(&rig.daemon)[TARGET] - flows_at_detect;
    drop(frozen);
    let back = wait_state(&rig, TARGET, "active", Duration::from_secs(10));
    println!(
        "  SIGCONT; {TARGET} active again {back:.2?} later; new flows sent to it while \
         unhealthy: {flows_while_unhealthy}"
    );

    let results = load.finish();
    let s = streams.finish();
    let (requests, failures) = totals(&results);
    let repicked = crate::support::repicked(&rig) - repicked_before;
    println!(
        "  health blip: {requests} requests, {failures} failed; streams {} of {} complete \
         ({} on {TARGET}); flows re-picked {repicked}",
        s.complete, s.total, s.complete_on_target
    );
    assert_no_failure(&results);
    assert!(s.broken.is_empty(), "broken streams: {:?}", s.broken);
    assert!(s.complete_on_target >= 2, "streams on {TARGET} completed");
    assert_eq!(repicked, 0, "no flow moved off the unhealthy backend");
    assert_eq!(
        flows_while_unhealthy, 0,
        "no new flow for a backend while it is unhealthy"
    );
    rig.down();
}
