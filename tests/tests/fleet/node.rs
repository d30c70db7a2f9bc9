//! BGP from the daemons (`[cluster.bgp]`): every node announces the VIP
//! once it has reconciled with etcd, without the test announcing anything;
//! `lb node drain` under load withdraws the node, its long streams go on
//! through the other nodes on the same backend, no request fails, and the
//! command returns once no flow uses the node; `lb node enable` announces
//! again; a daemon that stops withdraws its VIP.

use std::{
    collections::BTreeMap,
    time::{Duration, Instant},
};

use lb_lab::{ConfigSpec, LoadRun, LoadSpec, Tool};
use lb_tests::lab_support::lb_binary;

use crate::{daemons::NODES, routing::wait_next_hops, streams::place_streams};

const TTL: Duration = Duration::from_secs(3);
/// A moved connection's entry on the withdrawn node stops counting after this.
const IDLE: Duration = Duration::from_secs(3);

#[test]
fn fleet_node_drain_withdraws_the_node_and_waits_for_its_flows() {
    let lb = lb_binary();
    let fleet = crate::daemons::fleet_up("flnode", false);
    let etcd = fleet.etcd_endpoint();
    let lab = fleet.lab();
    let spec = ConfigSpec {
        flow_idle_timeout: Some(IDLE),
        ..ConfigSpec::default()
    };
    let mut daemons =
        crate::daemons::start_all(&fleet, &lb, |n| n.bgp_config(lab, &spec, &etcd, TTL));
    let all: Vec<_> = fleet.nodes().iter().collect();
    wait_next_hops(&fleet, &all);

    let mut load = LoadSpec::new(Tool::Hey, lab.vip_url("/"));
    load.keepalive = false;
    load.connections = 3;
    load.duration = Duration::from_secs(12);
    let load = LoadRun::spawn(lab, load).expect("hey");
    let (streams, placed, idx) = place_streams(
        lab,
        &daemons,
        &[lab.vip_url("/stream?seconds=8")],
        Duration::from_secs(40),
    );
    println!(
        "streams per node {:?}; node-draining {}",
        placed.iter().map(BTreeMap::len).collect::<Vec<_>>(),
        fleet.nodes()[idx].name()
    );

    let t0 = Instant::now();
    let out = daemons[idx]
        .lb_timeout(&["node", "drain"], Duration::from_mins(1))
        .expect("lb node drain");
    let took = t0.elapsed();
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!(
        "lb node drain returned after {took:?}: {}{}",
        stdout.trim(),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{}", daemons[idx].log_tail(30));
    assert!(stdout.contains("drained"), "{stdout}");
    assert!(
        took >= IDLE,
        "done before the moved flows went idle: {took:?}"
    );
    let rest: Vec<_> = fleet
        .nodes()
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != idx)
        .map(|(_, n)| n)
        .collect();
    wait_next_hops(&fleet, &rest);
    let status = daemons[idx].lb(&["node", "status", "--json"]).unwrap();
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).expect("JSON");
    assert_eq!(status["mode"], "draining", "{status}");
    assert_eq!(status["live_flows"], 0, "{status}");
    assert_eq!(status["announced"], serde_json::json!([]), "{status}");

    let r = load.join().expect("hey");
    println!(
        "hey across the node drain: {} requests, {} failed",
        r.requests,
        r.errors.total() + r.non_2xx
    );
    assert_eq!(r.errors.total() + r.non_2xx, 0, "{}", r.raw);
    for s in streams {
        crate::streams::whole_stream(s);
    }

    // Back in: announced again.
    let out = daemons[idx].lb(&["node", "enable"]).unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    wait_next_hops(&fleet, &all);

    // A daemon that stops withdraws its VIP (BIRD keeps running).
    let last = NODES - 1;
    daemons[last].stop().expect("stop");
    let rest: Vec<_> = fleet.nodes().iter().take(last).collect();
    wait_next_hops(&fleet, &rest);
    drop(daemons);
    drop(fleet);
}
