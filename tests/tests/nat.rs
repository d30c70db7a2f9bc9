//! NAT forwarding end to end (root only): the real `lb` daemon and XDP
//! program in front of three NAT backends (Gunicorn + Uvicorn + FastAPI bound
//! to `:8000` only, no VIP on `lo`, no ARP sysctls), on a `forward = "nat"`
//! VIP. What DSR promises, checked on NAT: spread, a drain under load with
//! nothing lost, reload, a daemon crash, IPv6; and what only NAT can see: the
//! server's close ending a drain.
//!
//! The drain helpers are the drain tests' own (`drain/support.rs`), which
//! know that a NAT backend sees the LB's address, not the client's.
//!
//! Run: cargo xtask test -- nat

// The drain tests use the rest of it.
#[path = "drain/mixed_load.rs"]
mod mixed_load;
#[allow(dead_code)]
#[path = "drain/support.rs"]
mod support;

use std::{io::Write as _, net::SocketAddr, time::Duration};

use lb_lab::{BackendOpts, ConfigSpec, Daemon, Lab, LabSpec, LoadRun, LoadSpec, Request, Tool};
use lb_tests::lab_support::spread;
use mixed_load::{MixedLoadDrain, drain_under_mixed_load};
use serde_json::Value;
use support::{
    TARGET, assert_clean, assert_no_connection_after_drain, drain, exit_code, first_requests_since,
    from_client, now, place_connections, poll, read_response, start_daemon,
};

/// Three NAT backends, web-1..web-3, on VIP (and VIP6 with `ipv6`).
fn nat_lab(prefix: &str, ipv6: bool) -> Lab {
    assert!(
        lb_lab::is_root(),
        "the NAT tests need root (namespaces, XDP)"
    );
    Lab::up_nat(
        LabSpec {
            prefix: prefix.into(),
            backends: 3,
            ipv6,
        },
        3,
    )
    .expect("lab up")
}

/// A 15 s drain deadline, so that a drain that does not end fails quickly.
fn quick_drains() -> ConfigSpec {
    ConfigSpec {
        backend: BackendOpts {
            drain_timeout: Some(Duration::from_secs(15)),
            ..BackendOpts::default()
        },
        ..ConfigSpec::default()
    }
}

/// 4 connections of hey on `url` for `secs` s: keep-alive or a fresh
/// connection per request, GET or a 1000-byte POST.
fn hey(url: String, keepalive: bool, post: bool, secs: u64) -> LoadSpec {
    let mut s = LoadSpec::new(Tool::Hey, url);
    s.connections = 4;
    s.duration = Duration::from_secs(secs);
    s.keepalive = keepalive;
    s.post_body = post.then_some(1000);
    s
}

/// The drain ended DRAINED, none forced, nothing left live.
fn assert_drained(run: &support::DrainRun, b: &Value) {
    let d = &b["drain"];
    assert_eq!(
        (
            exit_code(&run.wait),
            d["outcome"].as_str(),
            d["forced_flows"].as_u64()
        ),
        (0, Some("drained"), Some(0)),
        "lb drain --wait: {}\n{b:#}",
        String::from_utf8_lossy(&run.wait.stderr)
    );
    assert_eq!(
        (b["state"].as_str(), b["live_flows"].as_u64()),
        (Some("drained"), Some(0)),
        "{b:#}"
    );
}

#[test]
fn nat_spreads_over_backends_that_see_the_nat_source_v4_and_v6() {
    let lab = nat_lab("nat-spread", true);
    let daemon = start_daemon(&lab, &ConfigSpec::default());
    let status = daemon.status().unwrap();
    let lb = lab.lb_host();
    let lb6 = lb.ipv6.unwrap();
    assert_eq!(
        status["nat_sources"],
        serde_json::json!([lb.ipv4.to_string(), lb6.to_string()]),
        "{status:#}"
    );
    for vip in status["vips"].as_array().unwrap() {
        assert_eq!(vip["forward"], "nat", "{vip:#}");
        for b in vip["backends"].as_array().unwrap() {
            // No MAC needed, none resolved: routed by the FIB.
            assert_eq!(
                (
                    b["port"].as_u64(),
                    b["mac"].is_null(),
                    b["problem"].is_null()
                ),
                (Some(8000), true, true),
                "{b:#}"
            );
        }
    }

    // Spread over all three, on each family.
    let since = now();
    let v4 = spread(&lab, &lab.vip_url("/"), 30);
    let v6 = spread(&lab, &lab.vip6_url("/").unwrap(), 30);
    println!("30 GETs on VIP: {v4:?}; 30 on VIP6: {v6:?}");
    assert_eq!(v4.len(), 3, "{v4:?}");
    assert_eq!(v6.len(), 3, "{v6:?}");

    // Each backend saw those requests come from the NAT source (its v4 or
    // v6 address), from ports of NAT's range, never from the client.
    let (mut v4_seen, mut v6_seen) = (0, 0);
    for b in lab.backends() {
        for e in b.access_log().unwrap().iter().filter(|e| e.t >= since) {
            let from: SocketAddr = e.client.parse().unwrap();
            assert_ne!(
                from.ip(),
                std::net::IpAddr::from(lab.client_host().ipv4),
                "{e:?}"
            );
            if from_client(&lab, &e.client) {
                assert!((1024..32768).contains(&from.port()), "{e:?}");
                if from.is_ipv4() {
                    v4_seen += 1;
                } else {
                    v6_seen += 1;
                }
            }
        }
    }
    assert_eq!((v4_seen, v6_seen), (30, 30));

    // A request in flight: `lb flows` names its NAT source, the backend saw that.
    let slow = lab.spawn_request(
        Request::get(lab.vip_url("/slow?seconds=2")).timeout(Duration::from_secs(10)),
    );
    let flow = poll(
        "the slow request's NAT flow",
        Duration::from_secs(5),
        || {
            support::live_flows(&daemon, None)
                .into_iter()
                .find(|f| f["nat"].is_string())
        },
    );
    let r = slow.join().unwrap();
    assert!(r.ok(), "{r:?}");
    let backend = lab.backend(flow["backend"].as_str().unwrap()).unwrap();
    let nat = flow["nat"].as_str().unwrap();
    assert!(nat.starts_with(&format!("{}:", lb.ipv4)), "{flow}");
    let log = backend.access_log().unwrap();
    assert!(
        log.iter()
            .any(|e| e.client == nat && e.path.starts_with("/slow")),
        "{nat} not in {}'s log",
        backend.name()
    );

    // IPv6 under load: nothing fails.
    let r = LoadRun::run(&lab, hey(lab.vip6_url("/").unwrap(), false, false, 3)).unwrap();
    assert_clean("hey fresh-connection GET on VIP6 (c=4)", &r);
    lb_tests::lab_support::down(lab, daemon);
}

/// The drain suite's load test on a NAT VIP: keep-alive GET (hey), fresh
/// GET and POST, long /slow and /stream requests on web-2; nothing fails,
/// no new connection reaches web-2 after `lb drain`, and it ends DRAINED.
#[test]
fn nat_drain_under_load_loses_no_request() {
    let lab = nat_lab("nat-drain", false);
    let daemon = start_daemon(&lab, &quick_drains());
    let web2 = lab.backend(TARGET).unwrap();

    let MixedLoadDrain {
        run,
        status: b,
        since,
        ..
    } = drain_under_mixed_load(&lab, &daemon, &lab.vip_url("/"), "NAT drain");
    assert!(
        !first_requests_since(&lab, web2, since).is_empty(),
        "the load never reached {TARGET} through NAT"
    );
    assert_no_connection_after_drain(&lab, &daemon, web2, &run);
    assert_drained(&run, &b);
    lb_tests::lab_support::down(lab, daemon);
}

/// What only NAT sees: idle keep-alive connections on web-2, whose client
/// never closes them. SIGTERM makes Uvicorn close them (the server's FIN);
/// the NAT live count drops them at once and the drain ends DRAINED, where
/// DSR would count them live until the client's FIN or the idle timeout
/// (120 s here: the drain would be forced at its 15 s deadline).
#[test]
fn nat_drain_ends_when_the_server_closes_idle_keepalive_connections() {
    let lab = nat_lab("nat-fin", false);
    let daemon = start_daemon(&lab, &quick_drains());
    let web2 = lab.backend(TARGET).unwrap();
    let conns = place_connections(&lab, &daemon, 3, |mut c| {
        c.write_all(b"GET / HTTP/1.1\r\nHost: vip\r\n\r\n").unwrap();
        let body = read_response(c).expect("a response");
        assert!(body.starts_with("web-"), "{body:?}");
    });
    let live = support::live_flows(&daemon, Some(TARGET)).len();
    assert!(live >= 3, "{live} live flows on {TARGET}");
    let idle_since = now();

    let run = drain(&lab, &daemon, &[], Duration::from_secs(30));
    let b = daemon.backend_status(TARGET).unwrap();
    let d = &b["drain"];
    println!(
        "drain with {} idle keep-alive connections held open by the client: {} after {:.2} s (SIGTERM at +{:.3} s)",
        conns.len(),
        d["outcome"],
        d["elapsed_s"].as_f64().unwrap_or(f64::NAN),
        web2.sigterm_events()
            .unwrap()
            .first()
            .map_or(f64::NAN, |t| t - d["started_at"].as_f64().unwrap())
    );
    assert_drained(&run, &b);
    // Before Gunicorn's 5 s keep-alive timeout would have closed them anyway.
    assert!(run.done_at - idle_since < 5.0, "{b:#}");
    // The client's side is still open: the backend closed them, not the client.
    for f in support::flows(&daemon, Some(TARGET)) {
        assert_ne!(f["state"], "live", "{f}");
    }
    drop(conns);
    lb_tests::lab_support::down(lab, daemon);
}

/// Reload with an unchanged config, then SIGKILL and restart of the daemon,
/// with /stream requests in flight on every backend: none breaks, the flows
/// keep their backends and NAT sources, and new requests flow after.
#[test]
fn nat_flows_survive_reload_and_a_daemon_crash() {
    let lab = nat_lab("nat-crash", false);
    let mut daemon = start_daemon(&lab, &ConfigSpec::default());
    let streams: Vec<_> = (0..6)
        .map(|_| {
            lab.spawn_request(
                Request::get(lab.vip_url("/stream?seconds=6")).timeout(Duration::from_secs(30)),
            )
        })
        .collect();
    let before = poll("6 live NAT flows", Duration::from_secs(5), || {
        let f = support::live_flows(&daemon, None);
        (f.iter().filter(|f| f["nat"].is_string()).count() >= 6).then_some(f)
    });

    let out = daemon.lb(&["reload", "--json"]).unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        report["unchanged"].as_array().map(Vec::len),
        Some(3),
        "{report}"
    );

    daemon.kill9();
    // The data plane translates on its own while no daemon runs.
    let alone = spread(&lab, &lab.vip_url("/"), 10);
    println!("10 GETs with no daemon: {alone:?}");
    restart(&mut daemon);
    let after = support::flows(&daemon, None);
    for f in &before {
        let kept = after
            .iter()
            .find(|a| a["client"] == f["client"])
            .unwrap_or_else(|| panic!("flow {} lost", f["client"]));
        assert_eq!(
            (&kept["backend"], &kept["nat"]),
            (&f["backend"], &f["nat"]),
            "{kept}"
        );
    }
    for s in streams {
        let r = s.join().unwrap();
        let name = support::served_by("/stream", &r);
        println!(
            "stream across reload + SIGKILL + restart: {name}, {:.2?}",
            r.elapsed
        );
    }
    let r = LoadRun::run(&lab, hey(lab.vip_url("/"), false, false, 2)).unwrap();
    assert_clean("hey fresh-connection GET after the restart", &r);
    lb_tests::lab_support::down(lab, daemon);
}

fn restart(daemon: &mut Daemon) {
    daemon.restart().unwrap();
    daemon.wait_ready(Duration::from_secs(20)).unwrap();
    let status = daemon.status().unwrap();
    assert_eq!(status["adopted"], true, "{status:#}");
}

/// The demo's shape: DSR backends (VIP on `lo`, :80) and NAT backends
/// (:8000 only) side by side, each VIP served by its own.
#[test]
fn nat_and_dsr_vips_side_by_side() {
    assert!(
        lb_lab::is_root(),
        "the NAT tests need root (namespaces, XDP)"
    );
    let spec = LabSpec {
        prefix: "nat-mixed".into(),
        backends: 3,
        ipv6: true,
    };
    let lab = Lab::up_nat(spec, 1).expect("lab up");
    let daemon = start_daemon(&lab, &ConfigSpec::default());
    let status = daemon.status().unwrap();
    let modes: Vec<(&str, &str)> = status["vips"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| (v["name"].as_str().unwrap(), v["forward"].as_str().unwrap()))
        .collect();
    assert_eq!(
        modes,
        [
            ("web", "dsr"),
            ("app", "nat"),
            ("web6", "dsr"),
            ("app6", "nat")
        ]
    );
    let nat = lab.nat_vip().unwrap();
    let nat6 = lab.nat_vip6().unwrap();
    let dsr = spread(&lab, &lab.vip_url("/"), 20);
    let by_nat = spread(&lab, &format!("http://{nat}/"), 10);
    let by_nat6 = spread(&lab, &format!("http://[{nat6}]/"), 10);
    println!("DSR VIP: {dsr:?}; NAT VIP: {by_nat:?}; NAT VIP6: {by_nat6:?}");
    assert_eq!(dsr.keys().collect::<Vec<_>>(), ["web-1", "web-2"]);
    assert_eq!(by_nat.keys().collect::<Vec<_>>(), ["web-3"]);
    assert_eq!(by_nat6.keys().collect::<Vec<_>>(), ["web-3"]);
    lb_tests::lab_support::down(lab, daemon);
}
