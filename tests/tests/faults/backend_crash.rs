//! A backend crash: the target's Gunicorn (master and workers) is killed
//! (SIGKILL). Its connections are lost with it; what lb owes is that nothing
//! else is: no new connection goes to it once the health checks say so.

use std::time::{Duration, Instant};

use lb_tests::lab_support::{flows_json, new_flows};

use crate::support::{Load, Rig, TARGET, open_streams, sleep_s, totals, wait_state};

/// Failed requests and broken streams are at most the connections open on
/// the backend when it died plus the new ones lb sent it before its health
/// checks failed (`fall` x `interval`).
#[test]
fn faults_backend_crash_loses_only_its_own_connections() {
    println!("== faults: backend crash (web-2's Gunicorn SIGKILLed) under load");
    let rig = Rig::up("flt-crash", |_| {});
    let streams = open_streams(&rig, 6, 1);
    let load = Load::start(&rig.lab, 6.0);
    sleep_s(1.5);

    // New flows read before the live ones are listed: a connection made
    // between the two readings is counted, perhaps twice, never missed.
    let nf_kill = new_flows(&rig.daemon)[TARGET];
    let open = flows_json(&rig.daemon, Some(TARGET))
        .iter()
        .filter(|f| f["state"] == "live")
        .count() as u64;
    let kill = Instant::now();
    rig.lab.backend(TARGET).unwrap().kill();
    wait_state(&rig, TARGET, "unhealthy", Duration::from_secs(10));
    let detect = kill.elapsed();
    let nf_down = new_flows(&rig.daemon)[TARGET];

    let results = load.finish();
    let s = streams.finish();
    let (requests, failed) = totals(&results);
    let broken = s.broken.len() as u64;
    let during = nf_down - nf_kill;
    let bound = open + during;
    println!(
        "  backend crash: {requests} requests, {failed} failed, {broken} streams broken \
         (of {}); {failed} + {broken} <= bound {bound} = {open} connections open on {TARGET} \
         at the kill + {during} new ones before it was unhealthy ({detect:.2?} after the kill)",
        s.total
    );
    assert!(
        failed + broken <= bound,
        "{} > bound {bound}",
        failed + broken
    );
    let non_2xx: u64 = results.iter().map(|(_, r)| r.non_2xx).sum();
    assert_eq!(non_2xx, 0, "no non-2xx responses");
    assert!(requests > 0);
    assert_eq!(
        new_flows(&rig.daemon)[TARGET],
        nf_down,
        "new flows sent to {TARGET} after it was unhealthy"
    );
    rig.down();
}
