//! A backend crash: each mode's target Gunicorn (master and workers) is
//! killed (SIGKILL). Its connections are lost with it; what lb owes is that
//! nothing else is: no new connection goes to it once the health checks say
//! so.

use std::time::{Duration, Instant};

use lb_tests::lab_support::flows_json;

use crate::{
    load::{Load, totals},
    streams::{open_streams, report},
    support::{Rig, wait_state},
};

/// Failed requests and broken streams, per mode, are at most the connections
/// open on its target when it died plus the new ones lb sent it before its
/// health checks failed (`fall` x `interval`).
#[test]
fn faults_backend_crash_loses_only_its_own_connections() {
    println!("== faults: backend crash (web-2's and web-5's Gunicorn SIGKILLed) under load");
    let rig = Rig::up("flt-crash", |_| {});
    let streams = open_streams(&rig, 6, 1);
    let load = Load::start(&rig, 6.0);
    rig.wait_load_on_targets();

    // New flows read before the live ones are listed: a connection made
    // between the two readings is counted, perhaps twice, never missed.
    let nf_kill = rig.target_new_flows();
    let open = rig.modes.map(|m| {
        flows_json(&rig.daemon, Some(m.target))
            .iter()
            .filter(|f| f["state"] == "live")
            .count() as u64
    });
    let kill = Instant::now();
    for m in &rig.modes {
        rig.lab.backend(m.target).unwrap().kill();
    }
    let mut detect = [Duration::ZERO; 2];
    let mut nf_down = [0; 2];
    for (i, m) in rig.modes.iter().enumerate() {
        wait_state(&rig, m.target, "unhealthy", Duration::from_secs(10));
        detect[i] = kill.elapsed();
        nf_down[i] = rig.target_new_flows()[i];
    }

    let results = load.finish();
    let s = streams.finish();
    let bound = |i: usize| open[i] + nf_down[i] - nf_kill[i];
    report("backend crash", &results, &s, |m| {
        let i = usize::from(m.label == "NAT");
        format!(
            "; failed + broken <= bound {} = {} connections open on {} at the kill + {} new \
             ones before it was unhealthy ({:.2?} after the kill)",
            bound(i),
            open[i],
            m.target,
            nf_down[i] - nf_kill[i],
            detect[i]
        )
    });
    for (i, out) in s.iter().enumerate() {
        let (requests, failed) = totals(&results, &out.mode);
        let broken = out.broken.len() as u64;
        assert!(requests > 0, "{}: no requests", out.mode.label);
        assert!(
            failed + broken <= bound(i),
            "{}: {} > bound {}",
            out.mode.label,
            failed + broken,
            bound(i)
        );
    }
    let non_2xx: u64 = results.iter().map(|r| r.result.non_2xx).sum();
    assert_eq!(non_2xx, 0, "no non-2xx responses");
    assert_eq!(
        rig.target_new_flows(),
        nf_down,
        "new flows sent to a crashed backend after it was unhealthy"
    );
    rig.down();
}
