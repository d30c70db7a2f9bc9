//! DNAT forwarding end to end (root only): the real `lb` daemon and XDP
//! program in front of three backends (Gunicorn + Uvicorn + FastAPI bound to
//! `:8000` only, no VIP on `lo`) on a subnet of their own whose gateway is
//! the LB ([`Lab::up_dnat`]), on a `forward = "dnat"` VIP. The backends see
//! the client's own address; what the drain relies on works as on NAT:
//! spread, a drain under load with nothing lost, a daemon crash.
//!
//! Run: cargo xtask test -- dnat

#[path = "drain/mixed_load.rs"]
mod mixed_load;
#[allow(dead_code)]
#[path = "drain/support.rs"]
mod support;

use std::{
    net::{IpAddr, SocketAddr},
    time::Duration,
};

use lb_lab::{BackendOpts, ConfigSpec, Lab, LabSpec, LoadRun, LoadSpec, Request, Tool};
use lb_tests::lab_support::spread;
use mixed_load::{MixedLoadDrain, drain_under_mixed_load};
use support::{
    TARGET, assert_clean, assert_no_connection_after_drain, exit_code, first_requests_since, now,
    poll, start_daemon,
};

/// Three DNAT backends, web-1..web-3, on VIP (and VIP6 with `ipv6`).
fn dnat_lab(prefix: &str, ipv6: bool) -> Lab {
    assert!(
        lb_lab::is_root(),
        "the DNAT tests need root (namespaces, XDP)"
    );
    Lab::up_dnat(LabSpec {
        prefix: prefix.into(),
        backends: 3,
        ipv6,
    })
    .expect("lab up")
}

/// The addresses every request other than the daemon's health checks came
/// from, in every backend's access log since `since`.
fn seen_from(lab: &Lab, since: f64) -> Vec<SocketAddr> {
    lab.backends()
        .iter()
        .flat_map(|b| b.access_log().unwrap())
        .filter(|e| e.t >= since && e.path != "/health")
        .map(|e| e.client.parse().unwrap())
        .collect()
}

#[test]
fn dnat_spreads_over_backends_that_see_the_client_and_keeps_flows_across_a_daemon_crash() {
    let lab = dnat_lab("dnat-spread", true);
    let mut daemon = start_daemon(&lab, &ConfigSpec::default());
    let status = daemon.status().unwrap();
    for vip in status["vips"].as_array().unwrap() {
        assert_eq!(vip["forward"], "dnat", "{vip:#}");
    }
    // No NAT source is used, none resolved.
    assert_eq!(status["nat_sources"], serde_json::json!([]), "{status:#}");

    // Spread over all three, on each family; every backend saw the client.
    let since = now();
    let v4 = spread(&lab, &lab.vip_url("/"), 30);
    let v6 = spread(&lab, &lab.vip6_url("/").unwrap(), 30);
    println!("30 GETs on VIP: {v4:?}; 30 on VIP6: {v6:?}");
    assert_eq!((v4.len(), v6.len()), (3, 3), "{v4:?} {v6:?}");
    let client = lab.client_host();
    // A backend logs a request once its response is sent, so the last
    // lines may land just after the client has its answer: wait for all 60
    // (bounded), then check what they say.
    let from = poll(
        "the 60 GETs in the access logs",
        Duration::from_secs(5),
        || {
            let from = seen_from(&lab, since);
            (from.len() >= 60).then_some(from)
        },
    );
    let count = |ip: IpAddr| from.iter().filter(|a| a.ip() == ip).count();
    assert_eq!(
        (
            count(client.ipv4.into()),
            count(client.ipv6.unwrap().into()),
            from.len()
        ),
        (30, 30, 60),
        "the backends saw {from:?}"
    );

    // Streams in flight on every backend: `lb flows` shows them without a
    // NAT source, each under the client's own address and port, which its
    // backend saw; they survive SIGKILL and restart of the daemon.
    let streams: Vec<_> = (0..6)
        .map(|_| {
            lab.spawn_request(
                Request::get(lab.vip_url("/stream?seconds=6")).timeout(Duration::from_secs(30)),
            )
        })
        .collect();
    let before = poll("6 live DNAT flows", Duration::from_secs(5), || {
        let f = support::live_flows(&daemon, None);
        (f.len() >= 6).then_some(f)
    });
    for f in &before {
        assert!(f["nat"].is_null(), "{f}");
    }
    daemon.kill9();
    // The data plane translates on its own while no daemon runs.
    let alone = spread(&lab, &lab.vip_url("/"), 10);
    println!("10 GETs with no daemon: {alone:?}");
    daemon.restart().unwrap();
    daemon.wait_ready(Duration::from_secs(20)).unwrap();
    assert_eq!(daemon.status().unwrap()["adopted"], true);
    let after = support::flows(&daemon, None);
    for f in &before {
        let kept = after
            .iter()
            .find(|a| a["client"] == f["client"])
            .unwrap_or_else(|| panic!("flow {} lost", f["client"]));
        assert_eq!(kept["backend"], f["backend"], "{kept}");
    }
    for s in streams {
        let r = s.join().unwrap();
        let name = support::served_by("/stream", &r);
        println!("stream across SIGKILL + restart: {name}, {:.2?}", r.elapsed);
    }
    // Each stream's backend logged it (at its end) under the flow's client
    // address and port: the client's own.
    for f in &before {
        let seen = f["client"].as_str().unwrap();
        let backend = lab.backend(f["backend"].as_str().unwrap()).unwrap();
        let log = backend.access_log().unwrap();
        assert!(
            log.iter()
                .any(|e| e.client == seen && e.path.starts_with("/stream")),
            "{seen} not in {}'s log",
            backend.name()
        );
    }
    let mut load = LoadSpec::new(Tool::Hey, lab.vip_url("/"));
    load.connections = 4;
    load.duration = Duration::from_secs(2);
    load.keepalive = false;
    let r = LoadRun::run(&lab, load).unwrap();
    assert_clean("hey fresh-connection GET after the restart", &r);
    lb_tests::lab_support::down(lab, daemon);
}

/// The drain suite's load test on a DNAT VIP: keep-alive GET (hey), fresh
/// GET and POST, long /slow and /stream requests on web-2; nothing fails,
/// no new connection reaches web-2 after `lb drain`, and it ends DRAINED.
#[test]
fn dnat_drain_under_load_loses_no_request() {
    let lab = dnat_lab("dnat-drain", false);
    let spec = ConfigSpec {
        backend: BackendOpts {
            drain_timeout: Some(Duration::from_secs(15)),
            ..BackendOpts::default()
        },
        ..ConfigSpec::default()
    };
    let daemon = start_daemon(&lab, &spec);
    let web2 = lab.backend(TARGET).unwrap();
    let MixedLoadDrain {
        run,
        status: b,
        since,
        ..
    } = drain_under_mixed_load(&lab, &daemon, &lab.vip_url("/"), "DNAT drain");
    let reached = first_requests_since(&lab, web2, since);
    assert!(
        !reached.is_empty(),
        "the load never reached {TARGET} through DNAT"
    );
    // It saw the client itself.
    let client = lab.client_host().ipv4.to_string();
    for e in &reached {
        assert!(e.client.starts_with(&format!("{client}:")), "{e:?}");
    }
    assert_no_connection_after_drain(&lab, &daemon, web2, &run);
    let d = &b["drain"];
    assert_eq!(
        (
            exit_code(&run.wait),
            d["outcome"].as_str(),
            d["forced_flows"].as_u64(),
            b["state"].as_str(),
            b["live_flows"].as_u64()
        ),
        (0, Some("drained"), Some(0), Some("drained"), Some(0)),
        "lb drain --wait: {}\n{b:#}",
        String::from_utf8_lossy(&run.wait.stderr)
    );
    lb_tests::lab_support::down(lab, daemon);
}
