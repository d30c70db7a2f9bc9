//! Three LB nodes behind a router (BIRD 2, ECMP with L4 hashing over IPv4
//! and IPv6), each running today's `lb daemon` and announcing VIP and VIP6
//! with BGP through `lb_userspace::cluster::bgp`: the router learns three
//! next hops per VIP, fresh connections of both families spread over the
//! nodes, the nodes' Maglev tables of both VIPs are identical byte for byte
//! (read from each node's pinned maps), and when a node joins the ECMP set
//! (announces) or dies (its link goes down, the router's BGP hold time
//! ends its route), the long connections the router moves show up in
//! another node's flow table with the backend they had, and finish intact:
//! the same 5-tuple gets the same backend on every node.

use std::{
    collections::{BTreeMap, BTreeSet},
    net::IpAddr,
    time::{Duration, Instant},
};

use lb_common::maglev::slot_index;
use lb_lab::{ConfigSpec, Daemon, Fleet, FleetNode, LoadRun, LoadSpec, Tool};
use lb_tests::lab_support::{flows_json, lb_binary, poll, poll_result};
use lb_userspace::{cluster::bgp::BgpError, dataplane::maps::Maps};

use crate::{
    daemons::NODES,
    routing::{announce, bird_control, wait_next_hops},
    streams::{active_stream_flows, place_streams, stream_flows},
    support::block_on_inside,
};

/// One node's live Maglev table of a VIP, read from its pins.
#[derive(PartialEq, Eq)]
struct MaglevView {
    /// Backend id per slot of the live half.
    slots: Vec<u32>,
    /// Backend id -> (address, MAC) for every id in the slots.
    backends: BTreeMap<u32, (Vec<u8>, [u8; 6])>,
}

/// `vip_id`: the VIP's index in the config (0: `web`, 1: `web6`).
fn maglev_table(node: &FleetNode, m: u32, vip_id: u32) -> MaglevView {
    let pins = node.pin_root().join(node.iface());
    let maps = Maps::from_pins(&pins, m).expect("open the node's pinned maps");
    let half = maps.live_half(vip_id).expect("live half");
    let slots: Vec<u32> = (0..m)
        .map(|s| {
            maps.maglev
                .get(&slot_index(vip_id, half, m, s), 0)
                .expect("slot")
        })
        .collect();
    let ids: BTreeSet<u32> = slots.iter().copied().collect();
    let backends = ids
        .into_iter()
        .map(|id| {
            let b = maps.backends.get(&id, 0).expect("backend entry");
            (id, (b.addr.to_vec(), b.mac))
        })
        .collect();
    MaglevView { slots, backends }
}

/// New flows of the VIP at index `vip` of the status (0: `web`, 1: `web6`).
fn vip_new_flows(d: &Daemon, vip: usize) -> u64 {
    d.status().expect("lb status")["vips"][vip]["counters"]["new_flows"]
        .as_u64()
        .unwrap_or(0)
}

#[test]
fn fleet_ecmp_spreads_flows_and_every_node_keeps_them_on_their_backend() {
    let lb = lb_binary();
    let fleet = crate::daemons::fleet_up("fleet", true);
    let lab = fleet.lab();
    let vip6 = lab.vip6().expect("the lab has IPv6");
    let spec = ConfigSpec::default();
    let daemons = crate::daemons::start_all(&fleet, &lb, |n| n.daemon_config(lab, &spec));

    // BIRD's refusals reach the caller: a broken include file fails the
    // reconfiguration with BIRD's message (and BIRD keeps its old config).
    let last = &fleet.nodes()[NODES - 1];
    std::fs::write(last.vips_include(), "protocol static {\n").unwrap();
    let control = bird_control(last);
    let refused = block_on_inside(
        last.ns(),
        || async move { control.command("configure").await },
    );
    println!("BIRD on a broken include file: {refused:?}");
    assert!(
        matches!(&refused, Err(BgpError::Refused { reply, .. }) if reply.contains("error")),
        "{refused:?}"
    );

    // Every node announces both VIPs; the router learns one next hop each.
    let vips: BTreeSet<IpAddr> = [IpAddr::V4(lab.vip()), IpAddr::V6(vip6)].into();
    for i in 0..NODES {
        announce(&fleet, i, &vips);
    }
    let all: Vec<&FleetNode> = fleet.nodes().iter().collect();
    wait_next_hops(&fleet, &all);

    // The same config gives the same tables on every node, byte for byte.
    let m = lb_common::maglev::DEFAULT_MAGLEV_SIZE;
    for (vip_id, vip) in [(0, "web"), (1, "web6")] {
        let tables: Vec<_> = fleet
            .nodes()
            .iter()
            .map(|n| maglev_table(n, m, vip_id))
            .collect();
        assert_eq!(
            tables[0].backends.len(),
            3,
            "every backend of {vip} has slots"
        );
        for (n, t) in fleet.nodes().iter().zip(&tables).skip(1) {
            assert!(
                t.slots == tables[0].slots,
                "{}'s Maglev slots of {vip} differ from lb-1's",
                n.name()
            );
            assert_eq!(
                t.backends,
                tables[0].backends,
                "{}'s backend ids of {vip} differ from lb-1's",
                n.name()
            );
        }
        println!(
            "Maglev {vip}: {m} slots over backend ids {:?}, identical on {NODES} nodes",
            tables[0].backends.keys().collect::<Vec<_>>()
        );
    }

    // Fresh connections through the router reach every node, on each family.
    for (vip_index, url) in [(0, lab.vip_url("/")), (1, format!("http://[{vip6}]/"))] {
        spread_over_nodes(&fleet, &daemons, vip_index, &url);
    }

    // Long streams of both families while lb-3 is out of the ECMP set; then
    // lb-3 joins (the router rehashes some of them onto it), then the node
    // carrying the most dies. Every stream the router moves shows up on its
    // new node with the backend it had (a different one would reset it).
    // (A node withdrawn in order is fleet/node.rs's `lb node drain`.)
    let third = &fleet.nodes()[NODES - 1];
    announce(&fleet, NODES - 1, &BTreeSet::new());
    wait_next_hops(&fleet, &all[..NODES - 1]);
    let urls = [
        lab.vip_url("/stream?seconds=16"),
        format!("http://[{vip6}]/stream?seconds=16"),
    ];
    let (streams, placed, _) = place_streams(lab, &daemons, &urls, Duration::from_secs(40));
    let before: BTreeMap<String, String> = placed
        .iter()
        .flatten()
        .map(|(c, b)| (c.clone(), b.clone()))
        .collect();
    announce(&fleet, NODES - 1, &vips);
    wait_next_hops(&fleet, &all);
    let start = Instant::now();
    let joined = poll(
        "streams moved onto the node that joined",
        Duration::from_secs(5),
        || {
            let there = stream_flows(&daemons[NODES - 1]);
            (!there.is_empty()).then_some(there)
        },
    );
    println!(
        "{} joined: {} of {} streams moved onto it after {:?}",
        third.name(),
        joined.len(),
        before.len(),
        start.elapsed()
    );
    for (client, backend) in &joined {
        assert_eq!(
            before.get(client),
            Some(backend),
            "{client} changed backend on {}",
            third.name()
        );
    }

    let now: Vec<BTreeMap<String, String>> = daemons.iter().map(stream_flows).collect();
    for (client, backend) in &now[NODES - 1] {
        assert_eq!(
            before.get(client),
            Some(backend),
            "{client} changed backend on {}",
            third.name()
        );
    }
    // What the dying node carries now: its live entries that saw a packet
    // in the last 3 s (streams the join moved away less than 3 s ago among
    // them: they are live on lb-3 already).
    let active: Vec<BTreeMap<String, String>> = daemons
        .iter()
        .map(|d| active_stream_flows(d, Duration::from_secs(3)))
        .collect();
    let moved_idx = (0..NODES).max_by_key(|&i| active[i].len()).expect("nodes");
    let moved = &active[moved_idx];
    let leaving = &fleet.nodes()[moved_idx];
    println!(
        "live flows per node {:?}, active {:?}; {} dies ({} streams): its link goes down",
        now.iter().map(BTreeMap::len).collect::<Vec<_>>(),
        active.iter().map(BTreeMap::len).collect::<Vec<_>>(),
        leaving.name(),
        moved.len()
    );
    // A dead box: nothing reaches it, its BGP session ends at the router's
    // hold time (3 s), and until then the router's packets to it are lost
    // (TCP retransmits them through the other nodes afterwards).
    leaving
        .ns()
        .ip(&["link", "set", leaving.iface(), "down"])
        .expect("link down");
    let staying: Vec<&FleetNode> = fleet
        .nodes()
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != moved_idx)
        .map(|(_, n)| n)
        .collect();
    wait_next_hops(&fleet, &staying);

    // Each moved connection shows up live on a remaining node with its
    // backend. A client port reused since an earlier load may find that
    // load's closed entry there (the CI flake this caught: a stream on the
    // port of a hey connection that had closed on the node it moved to,
    // shown "closing"): the program reopens it (fixtures/reopened.rs).
    let start = Instant::now();
    let moved_on = poll_result(Duration::from_secs(10), || {
        let now: Vec<BTreeMap<String, String>> = daemons
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != moved_idx)
            .map(|(_, d)| stream_flows(d))
            .collect();
        let missing: Vec<(&String, &String)> = moved
            .iter()
            .filter(|(client, backend)| !now.iter().any(|p| p.get(*client) == Some(*backend)))
            .collect();
        if missing.is_empty() {
            Ok(())
        } else {
            Err(missing)
        }
    });
    if let Err(left) = moved_on {
        panic!(
            "after 10 s, streams of the dead node not live on another: {left:?}; their entries: {:?}",
            entries_of(&daemons, &left)
        );
    }
    println!(
        "{} streams re-appeared on the other nodes, same backends, after {:?}",
        moved.len(),
        start.elapsed()
    );
    for s in streams {
        crate::streams::whole_stream(s);
    }
    drop(daemons);
    drop(fleet);
}

/// Every node's flow entries (node index, state, backend) of `streams`' clients.
fn entries_of(daemons: &[Daemon], streams: &[(&String, &String)]) -> Vec<String> {
    let mut found = Vec::new();
    for (i, d) in daemons.iter().enumerate() {
        for f in flows_json(d, None) {
            if streams.iter().any(|(c, _)| f["client"] == c.as_str()) {
                found.push(format!(
                    "node {i}: {} {} {}",
                    f["client"], f["state"], f["backend"]
                ));
            }
        }
    }
    found
}

/// hey with fresh connections to `url` (VIP `vip_index` of the status)
/// through the router: every node takes a share of the new flows.
fn spread_over_nodes(fleet: &Fleet, daemons: &[Daemon], vip_index: usize, url: &str) {
    let before: Vec<u64> = daemons
        .iter()
        .map(|d| vip_new_flows(d, vip_index))
        .collect();
    let mut load = LoadSpec::new(Tool::Hey, url.to_owned());
    load.keepalive = false;
    load.connections = 6;
    load.duration = Duration::from_secs(3);
    let r = LoadRun::run(fleet.lab(), load).expect("hey");
    let per_node: Vec<u64> = daemons
        .iter()
        .zip(&before)
        .map(|(d, b)| vip_new_flows(d, vip_index) - b)
        .collect();
    println!(
        "hey fresh connections to {url}: {} requests, {} failed; new flows per node {per_node:?}",
        r.requests,
        r.errors.total() + r.non_2xx
    );
    assert_eq!(r.errors.total() + r.non_2xx, 0, "{}", r.raw);
    assert!(
        r.requests >= 30,
        "too few requests to judge the spread: {}",
        r.requests
    );
    for (n, c) in fleet.nodes().iter().zip(&per_node) {
        // A fair share is a third; a node with under a tenth is not in the ECMP set.
        assert!(
            *c * 10 >= r.requests,
            "{} got {c} of {} connections to {url}",
            n.name(),
            r.requests
        );
    }
}
