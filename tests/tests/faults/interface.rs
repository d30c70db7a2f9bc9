//! The LB's interface is deleted and recreated while the daemon is down (a
//! NIC or its namespace replaced): the pinned XDP link is then attached to
//! nothing, and a daemon that adopted it as it was would black-hole the VIP.

use std::time::Duration;

use lb_tests::lab_support::flows_json;

use crate::{
    load::{Load, assert_no_failure},
    streams::{open_streams, report},
    support::Rig,
};

/// The restarted daemon attaches the program again, with the pinned maps:
/// new connections flow on both VIPs (zero failures), the flow table is the
/// one from before. Connections open across the outage are measured, not promised.
#[test]
fn faults_interface_recreated_while_the_daemon_is_down() {
    println!("== faults: the LB's interface deleted and recreated while the daemon is down");
    let mut rig = Rig::up("flt-iface", |_| {});
    let streams = open_streams(&rig, 8, 1);
    let clients_before: Vec<String> = flows_json(&rig.daemon, None)
        .iter()
        .filter(|f| f["state"] == "live")
        .filter_map(|f| f["client"].as_str().map(str::to_owned))
        .collect();

    rig.daemon.stop().expect("daemon stops on SIGTERM");
    rig.lab.replug_lb().expect("interface recreated");
    let link = rig
        .lab
        .lb_ns()
        .ip(&["link", "show", rig.lab.lb_iface()])
        .unwrap();
    assert!(!link.contains("xdp"), "no XDP on the new interface: {link}");
    rig.daemon.restart().expect("daemon restarts");
    let status = rig
        .daemon
        .wait_ready(Duration::from_secs(30))
        .expect("daemon answers");
    println!(
        "  restarted: program {} ({}), XDP mode {}",
        status["program_tag"], status["program_at_start"], status["xdp_mode"]
    );
    assert_eq!(status["program_at_start"], "reattached", "{status:#}");
    let link = rig
        .lab
        .lb_ns()
        .ip(&["link", "show", rig.lab.lb_iface()])
        .unwrap();
    assert!(link.contains("xdp"), "XDP attached again: {link}");
    let kept: Vec<_> = flows_json(&rig.daemon, None)
        .iter()
        .filter_map(|f| f["client"].as_str().map(str::to_owned))
        .filter(|c| clients_before.contains(c))
        .collect();
    println!(
        "  flow table kept: {} of the {} flows live before are still there",
        kept.len(),
        clients_before.len()
    );
    assert_eq!(
        kept.len(),
        clients_before.len(),
        "the pinned flow table is kept"
    );

    let results = Load::start(&rig, 3.0).finish();
    let s = streams.finish();
    println!(
        "  interface recreated: requests are new connections after the restart; streams were open across the outage"
    );
    report("interface recreated", &results, &s, |_| String::new());
    assert_no_failure(&results);
    rig.down();
}
