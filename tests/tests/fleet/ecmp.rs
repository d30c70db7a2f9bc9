//! Three LB nodes behind a router (BIRD 2, ECMP with L4 hashing), each
//! running today's `lb daemon` and announcing the VIP with BGP through
//! `lb_userspace::cluster::bgp`: the router learns three next hops, fresh
//! connections spread over the nodes, the nodes' Maglev tables are
//! identical byte for byte (read from each node's pinned maps), and when
//! one node withdraws its route its connections move to the others and keep
//! their backend.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use lb_common::maglev::slot_index;
use lb_lab::{
    ConfigSpec, Daemon, Fleet, FleetNode, FleetSpec, Lab, LoadRun, LoadSpec, Request, Tool,
    client::InFlight, fleet::BGP_PROTOCOL,
};
use lb_tests::lab_support::{flows_json, lb_binary, poll};
use lb_userspace::cluster::bgp::{BgpError, BirdControl};
use lb_userspace::dataplane::maps::Maps;

use crate::support::block_on_inside;

const NODES: usize = 3;

fn bird_control(node: &FleetNode) -> BirdControl {
    BirdControl {
        socket: node.bird().socket().to_owned(),
        include: node.vips_include().to_owned(),
        protocol: BGP_PROTOCOL.to_owned(),
    }
}

/// Announces exactly `vips` from `node`, as lb will (idempotent: applied twice).
pub(crate) fn announce(fleet: &Fleet, node: usize, vips: &BTreeSet<IpAddr>) {
    let n = &fleet.nodes()[node];
    let control = bird_control(n);
    let vips = vips.clone();
    block_on_inside(n.ns(), || async move {
        control
            .set_announced(&vips)
            .await
            .expect("announce through BIRD");
        control
            .set_announced(&vips)
            .await
            .expect("announce again (idempotent)");
        assert_eq!(control.announced().await.unwrap(), vips);
    });
}

fn next_hops(fleet: &Fleet) -> Vec<String> {
    fleet
        .vip_next_hops()
        .expect("router's VIP route")
        .iter()
        .map(ToString::to_string)
        .collect()
}

pub(crate) fn wait_next_hops(fleet: &Fleet, want: &[&FleetNode]) {
    let want: Vec<String> = want.iter().map(|n| n.host().ipv4.to_string()).collect();
    let start = Instant::now();
    poll(
        "the router's ECMP next hops",
        Duration::from_secs(15),
        || (next_hops(fleet) == want).then_some(()),
    );
    println!("router: VIP via {want:?} after {:?}", start.elapsed());
}

/// One node's live Maglev table of VIP `web`, read from its pins.
#[derive(PartialEq, Eq)]
struct MaglevView {
    /// Backend id per slot of the live half.
    slots: Vec<u32>,
    /// Backend id -> (address, MAC) for every id in the slots.
    backends: BTreeMap<u32, (Vec<u8>, [u8; 6])>,
}

fn maglev_table(node: &FleetNode, m: u32) -> MaglevView {
    let pins = node.pin_root().join(node.iface());
    let maps = Maps::from_pins(&pins, m).expect("open the node's pinned maps");
    let vip_id = 0; // the config's first (and only) VIP
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

fn vip_new_flows(d: &Daemon) -> u64 {
    d.status().expect("lb status")["vips"][0]["counters"]["new_flows"]
        .as_u64()
        .unwrap_or(0)
}

#[test]
fn fleet_ecmp_spreads_flows_and_every_node_keeps_them_on_their_backend() {
    let lb = lb_binary();
    let fleet = Fleet::up(FleetSpec {
        prefix: "fleet".into(),
        backends: 3,
        nodes: NODES,
    })
    .expect("fleet lab up");
    let lab = fleet.lab();
    let spec = ConfigSpec::default();
    let daemons: Vec<Daemon> = fleet
        .nodes()
        .iter()
        .map(|n| {
            n.start_daemon(lab, &lb, n.daemon_config(lab, &spec))
                .expect("daemon starts")
        })
        .collect();
    for d in &daemons {
        d.wait_ready(Duration::from_secs(30)).expect("daemon ready");
        d.wait_all_active(Duration::from_secs(30))
            .expect("backends active");
    }

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

    // Every node announces the VIP; the router learns one next hop each.
    let vip: BTreeSet<IpAddr> = [IpAddr::V4(lab.vip())].into();
    for i in 0..NODES {
        announce(&fleet, i, &vip);
    }
    let all: Vec<&FleetNode> = fleet.nodes().iter().collect();
    wait_next_hops(&fleet, &all);

    // The same config gives the same table on every node, byte for byte.
    let m = lb_common::maglev::DEFAULT_MAGLEV_SIZE;
    let tables: Vec<_> = fleet.nodes().iter().map(|n| maglev_table(n, m)).collect();
    assert_eq!(tables[0].backends.len(), 3, "every backend has slots");
    for (n, t) in fleet.nodes().iter().zip(&tables).skip(1) {
        assert!(
            t.slots == tables[0].slots,
            "{}'s Maglev slots differ from lb-1's",
            n.name()
        );
        assert_eq!(
            t.backends,
            tables[0].backends,
            "{}'s backend ids differ from lb-1's",
            n.name()
        );
    }
    println!(
        "Maglev: {m} slots over backend ids {:?}, identical on {NODES} nodes",
        tables[0].backends.keys().collect::<Vec<_>>()
    );

    // Fresh connections through the router reach every node.
    let before: Vec<u64> = daemons.iter().map(vip_new_flows).collect();
    let mut load = LoadSpec::new(Tool::Hey, lab.vip_url("/"));
    load.keepalive = false;
    load.connections = 6;
    load.duration = Duration::from_secs(3);
    let r = LoadRun::run(lab, load).expect("hey");
    let per_node: Vec<u64> = daemons
        .iter()
        .zip(&before)
        .map(|(d, b)| vip_new_flows(d) - b)
        .collect();
    println!(
        "hey fresh connections: {} requests, {} failed; new flows per node {per_node:?}",
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
            "{} got {c} of {} connections",
            n.name(),
            r.requests
        );
    }

    // Long streams, then one node withdraws: its streams go on through the
    // others, on the same backend (a different one would reset them).
    let (streams, placed, moved_idx) = place_streams(lab, &daemons, Duration::from_secs(30));
    let moved = &placed[moved_idx];
    let leaving = &fleet.nodes()[moved_idx];
    println!(
        "streams per node {:?}; withdrawing {} ({} streams)",
        placed.iter().map(BTreeMap::len).collect::<Vec<_>>(),
        leaving.name(),
        moved.len()
    );
    announce(&fleet, moved_idx, &BTreeSet::new());
    let staying: Vec<&FleetNode> = fleet
        .nodes()
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != moved_idx)
        .map(|(_, n)| n)
        .collect();
    wait_next_hops(&fleet, &staying);

    // Each moved connection shows up on a remaining node with its backend.
    let start = Instant::now();
    poll(
        "the withdrawn node's streams on the other nodes",
        Duration::from_secs(10),
        || {
            let now: Vec<BTreeMap<String, String>> = daemons
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != moved_idx)
                .map(|(_, d)| stream_flows(d))
                .collect();
            moved
                .iter()
                .all(|(client, backend)| now.iter().any(|p| p.get(client) == Some(backend)))
                .then_some(())
        },
    );
    println!(
        "{} streams re-appeared on the other nodes, same backends, after {:?}",
        moved.len(),
        start.elapsed()
    );
    for s in streams {
        let resp = s.join().expect("stream");
        assert!(resp.ok(), "a stream broke: {resp:?}");
        let chunks = resp.body.lines().count();
        assert_eq!(chunks, 10, "incomplete stream: {:?}", resp.body);
        let served_by: BTreeSet<&str> = resp
            .body
            .lines()
            .filter_map(|l| l.split(' ').next())
            .collect();
        assert_eq!(
            served_by.len(),
            1,
            "one stream, one backend: {:?}",
            resp.body
        );
    }
    drop(daemons);
    drop(fleet);
}

/// 12 eight-second streams through the router (each request times out after
/// `timeout`); once all are in the nodes' flow tables: the requests, each
/// node's streams (see [`stream_flows`]) and the index of the node that
/// carries the most.
pub(crate) fn place_streams(
    lab: &Lab,
    daemons: &[Daemon],
    timeout: Duration,
) -> (Vec<InFlight>, Vec<BTreeMap<String, String>>, usize) {
    let streams: Vec<InFlight> = (0..12)
        .map(|_| lab.spawn_request(Request::get(lab.vip_url("/stream?seconds=8")).timeout(timeout)))
        .collect();
    let placed: Vec<BTreeMap<String, String>> = poll(
        "12 streams in the flow tables",
        Duration::from_secs(10),
        || {
            let p: Vec<BTreeMap<String, String>> = daemons.iter().map(stream_flows).collect();
            (p.iter().map(BTreeMap::len).sum::<usize>() >= 12).then_some(p)
        },
    );
    let busiest = (0..placed.len())
        .max_by_key(|&i| placed[i].len())
        .expect("three nodes");
    (streams, placed, busiest)
}

/// The node's live flows (hey's closed ones excluded) to the VIP from the client: client address:port ->
/// backend.
pub(crate) fn stream_flows(d: &Daemon) -> BTreeMap<String, String> {
    flows_json(d, None)
        .iter()
        .filter(|f| f["state"] == "live")
        .filter_map(|f| {
            Some((
                f["client"].as_str()?.to_owned(),
                f["backend"].as_str()?.to_owned(),
            ))
        })
        .collect()
}
