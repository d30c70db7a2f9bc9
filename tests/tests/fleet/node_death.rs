//! A node dies during a fleet drain (docs/fleet.md, "Shared drain sets"),
//! under keep-alive GET, fresh GET and POST load through the router, with
//! long streams to the draining backend on every node: the daemon of the
//! node carrying the most of them is SIGKILLed (its XDP program stays
//! attached) and its route withdrawn, so the router moves its connections
//! to the other two. Those nodes imported its drain set when the drain
//! began: the streams finish through them on web-2 (second chance), no
//! request fails, no new connection reaches web-2 after the flip, the drain
//! completes on the survivors after the last stream closed (they count the
//! connections they took over), and the shutdown action ran once.

use std::{
    collections::{BTreeMap, BTreeSet},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use lb_lab::{ConfigSpec, LoadRun, LoadSpec, Request, Tool};
use lb_tests::lab_support::{lb_binary, poll};

use crate::{
    daemons::NODES,
    routing::{RouteLog, announce, wait_next_hops},
    streams::stream_flows,
};

const TTL: Duration = Duration::from_secs(3);
/// Streams: enough that every node carries some to web-2 (each goes to
/// web-2 with odds 1/3; none of 24 does with odds 6e-5).
const STREAMS: usize = 24;
/// When the dead node's route goes, the router's hash-threshold ECMP also
/// moves some of the survivors' own connections from one survivor to the
/// other; the old survivor counts such a connection until it has been idle
/// there this long (docs/fleet.md, "Double counting"), so with the default
/// 120 s the drain would wait for its deadline whenever that happens (about
/// every other run). The streams send a chunk every 1.4 s, so a connection
/// that still uses a node never idles out there.
const IDLE: Duration = Duration::from_secs(4);

fn load(tool: Tool, url: String, keepalive: bool, post: Option<usize>) -> LoadSpec {
    let mut l = LoadSpec::new(tool, url);
    l.keepalive = keepalive;
    l.post_body = post;
    l.connections = 2;
    l.threads = 1;
    l.duration = Duration::from_secs(16);
    l
}

fn imported(f: &serde_json::Value, node: &str) -> u64 {
    f["nodes"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|n| n["node"] == node)
        .and_then(|n| n["imported"]["web-2"].as_u64())
        .unwrap_or(0)
}

#[test]
fn fleet_node_dies_during_a_drain_its_streams_finish_through_the_others() {
    let lb = lb_binary();
    let fleet = crate::daemons::fleet_up("fldie", false);
    let etcd = fleet.etcd_endpoint();
    let lab = fleet.lab();
    let mut spec = ConfigSpec {
        flow_idle_timeout: Some(IDLE),
        ..ConfigSpec::default()
    };
    spec.backend.on_drain = true;
    let mut daemons =
        crate::daemons::start_all(&fleet, &lb, |n| n.cluster_config(lab, &spec, &etcd, TTL));
    crate::daemons::announce_from_every_node(&fleet);
    let routes = RouteLog::start(&fleet);

    let streams: Vec<_> = (0..STREAMS)
        .map(|_| {
            lab.spawn_request(
                Request::get(lab.vip_url("/stream?seconds=14")).timeout(Duration::from_secs(40)),
            )
        })
        .collect();
    // Streams to web-2 per node, once every stream is in a flow table.
    let placed: Vec<BTreeMap<String, String>> = poll(
        "the streams in the flow tables",
        Duration::from_secs(10),
        || {
            let p: Vec<BTreeMap<String, String>> = daemons.iter().map(stream_flows).collect();
            (p.iter().map(BTreeMap::len).sum::<usize>() >= STREAMS).then_some(p)
        },
    );
    let on_web2: Vec<usize> = placed
        .iter()
        .map(|p| p.values().filter(|b| *b == "web-2").count())
        .collect();
    let victim = (0..NODES).max_by_key(|&i| on_web2[i]).expect("nodes");
    assert!(on_web2[victim] >= 1, "no stream to web-2: {placed:?}");
    let survivors: Vec<usize> = (0..NODES).filter(|&i| i != victim).collect();
    let name = |i: usize| fleet.nodes()[i].name().to_owned();
    println!(
        "streams to web-2 per node {on_web2:?}; {} dies",
        name(victim)
    );

    // The loads start once the streams are placed: their keep-alive
    // connections are live flows too, and counted as streams above they
    // would make the victim seem to carry streams that the drain notice
    // then moves off web-2 before the node dies (CI: 4 second chances for
    // "7 moved streams", 3 of them wrk connections).
    let url = lab.vip_url("/");
    let loads = [
        LoadRun::spawn(lab, load(Tool::Wrk, url.clone(), true, None)).expect("wrk"),
        LoadRun::spawn(lab, load(Tool::Hey, url.clone(), false, None)).expect("hey GET"),
        LoadRun::spawn(lab, load(Tool::Hey, url, false, Some(2048))).expect("hey POST"),
    ];

    // The drain, from a node that survives.
    let out = daemons[survivors[0]]
        .lb(&["drain", "web-2", "--timeout", "40s"])
        .expect("lb drain");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Every survivor imported (at least) the victim's connections to web-2:
    // its drain set, the connections it recorded when the drain began (the
    // count placed above may also hold a fresh-connection request that
    // closed before that).
    let victim_set = poll("the victim's drain set", Duration::from_secs(10), || {
        daemons[victim].backend_status("web-2").ok()?["drain"]["initial_flows"]
            .as_u64()
            .filter(|&n| n >= 1)
    });
    let f = poll(
        "the survivors imported the drain sets",
        Duration::from_secs(10),
        || {
            let out = daemons[survivors[0]]
                .lb(&["status", "--fleet", "--json"])
                .ok()?;
            let f: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
            survivors
                .iter()
                .all(|&i| imported(&f, &name(i)) >= victim_set)
                .then_some(f)
        },
    );
    println!(
        "imported web-2 connections per node: {:?}",
        (0..NODES)
            .map(|i| imported(&f, &name(i)))
            .collect::<Vec<_>>()
    );
    let starts: Vec<f64> = daemons
        .iter()
        .map(|d| {
            d.backend_status("web-2").unwrap()["drain"]["started_at"]
                .as_f64()
                .unwrap()
        })
        .collect();
    // The action ran and every node knows its result: the victim's death
    // cannot make it run again (what a death before the result can do is
    // the claim's business, tested against etcd in store.rs).
    poll(
        "the shutdown action recorded on every node",
        Duration::from_secs(15),
        || {
            daemons
                .iter()
                .all(|d| {
                    d.backend_status("web-2")
                        .ok()
                        .is_some_and(|b| b["last_action"]["kind"] == "shutdown")
                })
                .then_some(())
        },
    );

    // The node dies: daemon SIGKILLed (XDP stays attached), route withdrawn.
    daemons[victim].kill9();
    announce(&fleet, victim, &BTreeSet::new());
    let rest: Vec<_> = survivors.iter().map(|&i| &fleet.nodes()[i]).collect();
    wait_next_hops(&fleet, &rest);
    let moved_at = now();

    crate::streams::assert_loads_lost_nothing(loads);
    // The router's route changes since the streams began: the victim's
    // withdrawal only, unless something else moved flows meanwhile (what to
    // look at first if a stream below broke).
    println!("router route changes:\n{}", routes.text());
    let mut last_close = 0.0_f64;
    let mut web2_ends = Vec::new();
    for s in streams {
        let (resp, backend) = crate::streams::whole_stream(s);
        if backend == "web-2" {
            let end = resp.completed_by();
            last_close = last_close.max(end);
            web2_ends.push(end);
        }
    }
    // The victim's streams were still open once the router had moved them
    // (each then sends at least one more segment, through a survivor): a
    // stream that ended before cannot count, and the check would be moot.
    let first_end = web2_ends.iter().copied().fold(f64::INFINITY, f64::min);
    assert!(
        first_end > moved_at + 1.0,
        "a stream to web-2 ended {:.1} s after the routes moved: the node died too late to test the move",
        first_end - moved_at
    );
    // The victim's streams reached web-2 through the survivors' imported records.
    let second_chances: u64 = survivors
        .iter()
        .map(|&i| {
            daemons[i].backend_status("web-2").unwrap()["counters"]["second_chance"]
                .as_u64()
                .unwrap_or(0)
        })
        .sum();
    println!("second chances to web-2 on the survivors: {second_chances}");
    assert!(
        second_chances >= on_web2[victim] as u64,
        "{second_chances} second chances for {} moved streams",
        on_web2[victim]
    );

    // The drain completes on the survivors, after the last stream closed.
    let ends: Vec<f64> = survivors
        .iter()
        .map(|&i| {
            poll(
                "web-2 drained on a survivor",
                Duration::from_secs(20),
                || {
                    let d = daemons[i].backend_status("web-2").ok()?["drain"].clone();
                    (d["outcome"] == "drained").then(|| d["finished_at"].as_f64().unwrap())
                },
            )
        })
        .collect();
    println!(
        "drained on the survivors {:?} ms after the last close of web-2's streams",
        ends.iter()
            .map(|e| ((e - last_close) * 1000.0).round())
            .collect::<Vec<_>>()
    );
    for e in &ends {
        assert!(
            *e >= last_close - 0.05,
            "a survivor completed before the last stream closed: {ends:?} vs {last_close}"
        );
    }

    // No new connection reached web-2 after the last node flipped (100 ms
    // margin, as in drain.rs): the imported sets sent none there.
    let flipped = starts.iter().copied().fold(f64::MIN, f64::max);
    let web2 = lab.backend("web-2").unwrap();
    let client = format!("{}:", lab.client_host().ipv4);
    let late: Vec<_> = web2
        .connections_since(flipped + 0.1)
        .expect("access log")
        .into_iter()
        .filter(|e| e.client.starts_with(&client))
        .collect();
    assert!(late.is_empty(), "new connections after the flip: {late:?}");

    // The action ran once.
    let sigterms = web2.sigterm_events().unwrap();
    println!("SIGTERMs to web-2: {}", sigterms.len());
    assert_eq!(sigterms.len(), 1, "{sigterms:?}");
    drop(daemons);
    drop(fleet);
}

/// Unix time, s (the streams' `started_at` is on the same clock).
fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs_f64()
}
