//! The LB's interface is deleted and recreated while the daemon is down (a
//! NIC or its namespace replaced): the pinned XDP link is then attached to
//! nothing, and a daemon that adopted it as it was would black-hole the VIP.

use std::time::Duration;

use lb_tests::lab_support::{flows_json, poll};

use crate::{
    load::{Load, assert_no_failure},
    streams::{assert_unbroken, open_streams, report},
    support::Rig,
};

/// The restarted daemon attaches the program again, with the pinned maps:
/// new connections flow on both VIPs (zero failures), the flow table is the
/// one from before, and streams open across the outage complete on both:
/// with no program attached, the NAT backend's packets to the NAT source
/// are dropped by the daemon's nftables table (dataplane::nat_guard), not
/// reset by the LB's kernel, so they are retransmitted until it is back.
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
    let resets_before = lb_kernel_resets(&rig);
    rig.lab.replug_lb().expect("interface recreated");
    let link = rig
        .lab
        .lb_ns()
        .ip(&["link", "show", rig.lab.lb_iface()])
        .unwrap();
    assert!(!link.contains("xdp"), "no XDP on the new interface: {link}");
    // The NAT stream's backend keeps sending to the NAT source with no
    // program to translate: the daemon's nftables table drops those packets
    // (it outlived the daemon) instead of the kernel resetting the connection.
    let dropped = poll(
        "a NAT reply dropped by the NAT guard",
        Duration::from_secs(10),
        || Some(nat_guard_drops(&rig)).filter(|&n| n > 0),
    );
    let resets = lb_kernel_resets(&rig) - resets_before;
    println!(
        "  outage: {dropped} NAT replies dropped by the NAT guard table, {resets} resets from the \
         LB's kernel"
    );
    assert_eq!(resets, 0, "the LB's kernel reset no connection");
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
    assert_unbroken(&s, 1);

    // `lb teardown` removes the table with the pins.
    let out = rig.daemon.lb(&["teardown"]).expect("lb teardown");
    assert!(out.status.success(), "{out:?}");
    let tables = rig
        .lab
        .lb_ns()
        .run(&["nft", "list", "tables"])
        .expect("nft list tables");
    assert!(
        !tables.contains("lb_nat_"),
        "the NAT guard table is left: {tables}"
    );
    rig.down();
}

/// Packets the NAT guard's rules dropped, the sum of their counters (0 when
/// the table is not there).
fn nat_guard_drops(rig: &Rig) -> u64 {
    let table = format!("lb_nat_{}", rig.lab.lb_iface());
    let Ok(listing) = rig
        .lab
        .lb_ns()
        .run(&["nft", "list", "table", "inet", &table])
    else {
        return 0;
    };
    let words: Vec<&str> = listing.split_whitespace().collect();
    words
        .windows(2)
        .filter(|w| w[0] == "packets")
        .filter_map(|w| w[1].parse::<u64>().ok())
        .sum()
}

/// The LB namespace's `Tcp: OutRsts` (resets its own kernel sent: to a
/// packet for a local address with no socket, e.g. a NAT reply that XDP did
/// not translate).
fn lb_kernel_resets(rig: &Rig) -> u64 {
    let snmp = rig
        .lab
        .lb_ns()
        .run(&["cat", "/proc/net/snmp"])
        .expect("/proc/net/snmp");
    let mut tcp = snmp.lines().filter(|l| l.starts_with("Tcp:"));
    let (names, values) = (tcp.next().unwrap_or(""), tcp.next().unwrap_or(""));
    names
        .split_whitespace()
        .zip(values.split_whitespace())
        .find(|(n, _)| *n == "OutRsts")
        .and_then(|(_, v)| v.parse().ok())
        .expect("Tcp: OutRsts in /proc/net/snmp")
}
