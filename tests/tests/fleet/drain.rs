//! One drain across the fleet under real load through the router: keep-alive
//! GET (wrk), fresh-connection GET and POST (hey), and long streams spread
//! over every node. Zero failed requests; no new connection reaches the
//! backend after every node flipped; every node completes the drain at the
//! fleet-wide zero (not at its own), within 1 s of the last close; the
//! shutdown action (SIGTERM to the backend's Gunicorn) ran once in the fleet;
//! `lb drain --wait` showed the fleet-wide count and each node's, and
//! `lb status --fleet` on another node shows every node and the drain.

use std::time::Duration;

use lb_lab::{ConfigSpec, Daemon, LoadRun, LoadSpec, Request, Tool};
use lb_tests::lab_support::{lb_binary, poll};

const TTL: Duration = Duration::from_secs(3);

fn drain_of(d: &Daemon, backend: &str) -> serde_json::Value {
    d.backend_status(backend).expect("lb status")["drain"].clone()
}

fn load(tool: Tool, url: String, keepalive: bool, post: Option<usize>, c: u32) -> LoadSpec {
    let mut l = LoadSpec::new(tool, url);
    l.keepalive = keepalive;
    l.post_body = post;
    l.connections = c;
    l.threads = 1;
    l.duration = Duration::from_secs(10);
    l
}

#[test]
fn fleet_drain_completes_at_the_fleet_wide_zero_and_runs_the_action_once() {
    let lb = lb_binary();
    let fleet = crate::daemons::fleet_up("fldrn", false);
    let etcd = fleet.etcd_endpoint();
    let lab = fleet.lab();
    // lb_drain's notice makes keep-alive clients leave web-2 between
    // requests; the shutdown action is SIGTERM to web-2's Gunicorn.
    let mut spec = ConfigSpec::default();
    spec.backend.on_drain = true;
    let daemons =
        crate::daemons::start_all(&fleet, &lb, |n| n.cluster_config(lab, &spec, &etcd, TTL));
    crate::daemons::announce_from_every_node(&fleet);

    let url = lab.vip_url("/");
    let loads = [
        LoadRun::spawn(lab, load(Tool::Wrk, url.clone(), true, None, 3)).expect("wrk"),
        LoadRun::spawn(lab, load(Tool::Hey, url.clone(), false, None, 2)).expect("hey GET"),
        LoadRun::spawn(lab, load(Tool::Hey, url, false, Some(2048), 2)).expect("hey POST"),
    ];
    let streams: Vec<_> = (0..12)
        .map(|_| {
            lab.spawn_request(
                Request::get(lab.vip_url("/stream?seconds=6")).timeout(Duration::from_secs(40)),
            )
        })
        .collect();
    // The streams are in the flow tables (on whichever nodes ECMP chose).
    poll(
        "streams to web-2 in the flow tables",
        Duration::from_secs(10),
        || {
            let n: u64 = daemons
                .iter()
                .map(|d| {
                    d.backend_status("web-2").unwrap()["live_flows"]
                        .as_u64()
                        .unwrap_or(0)
                })
                .sum();
            (n >= 2).then_some(())
        },
    );

    let out = daemons[0]
        .lb_timeout(
            &["drain", "web-2", "--wait", "--timeout", "30s"],
            Duration::from_secs(45),
        )
        .expect("lb drain --wait");
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("lb drain --wait progress:\n{}", stderr.trim());
    assert!(
        out.status.success(),
        "{stderr}\n{}",
        daemons[0].log_tail(30)
    );
    assert!(
        stderr.contains(", fleet ") && stderr.contains("lb-3 "),
        "--wait did not show the fleet-wide count: {stderr}"
    );

    crate::streams::assert_loads_lost_nothing(loads);
    let mut last_close = 0.0_f64;
    let mut on_web2 = 0;
    for s in streams {
        let (resp, backend) = crate::streams::whole_stream(s);
        if backend == "web-2" {
            on_web2 += 1;
            last_close = last_close.max(resp.completed_by());
        }
    }
    assert!(on_web2 >= 1, "no stream went to web-2");

    // Every node completed at the fleet-wide zero, none was forced.
    let drains: Vec<serde_json::Value> = daemons.iter().map(|d| drain_of(d, "web-2")).collect();
    for (n, d) in fleet.nodes().iter().zip(&drains) {
        assert_eq!(d["outcome"], "drained", "{}: {d}", n.name());
    }
    let at = |key: &str| -> Vec<f64> { drains.iter().map(|d| d[key].as_f64().unwrap()).collect() };
    let (starts, ends) = (at("started_at"), at("finished_at"));
    let max = |v: &[f64]| v.iter().copied().fold(f64::MIN, f64::max);
    let min = |v: &[f64]| v.iter().copied().fold(f64::MAX, f64::min);
    println!(
        "flip spread {:.1} ms; drained on every node {:.0}..{:.0} ms after the last close of web-2's {on_web2} streams",
        (max(&starts) - min(&starts)) * 1000.0,
        (min(&ends) - last_close) * 1000.0,
        (max(&ends) - last_close) * 1000.0,
    );
    assert!(
        min(&ends) >= last_close - 0.05,
        "a node completed before the fleet-wide last close: {ends:?} vs {last_close}"
    );
    assert!(
        max(&ends) - last_close < 1.0,
        "DRAINED late: {ends:?} vs {last_close}"
    );

    // No new connection reached web-2 after the last node flipped (a 100 ms
    // margin: a SYN forwarded just before the flip is accepted after it).
    let web2 = lab.backend("web-2").unwrap();
    let client = format!("{}:", lab.client_host().ipv4);
    let late: Vec<_> = web2
        .connections_since(max(&starts) + 0.1)
        .expect("access log")
        .into_iter()
        .filter(|e| e.client.starts_with(&client))
        .collect();
    assert!(late.is_empty(), "new connections after the flip: {late:?}");

    // The action ran once: one SIGTERM, one node says it ran it.
    poll("web-2's SIGTERM logged", Duration::from_secs(10), || {
        (!web2.sigterm_events().unwrap_or_default().is_empty()).then_some(())
    });
    let sigterms = web2.sigterm_events().unwrap();
    let ran: Vec<String> = daemons
        .iter()
        .map(|d| {
            d.backend_status("web-2").unwrap()["last_action"]["detail"]
                .as_str()
                .unwrap_or("")
                .to_owned()
        })
        .collect();
    println!(
        "SIGTERMs to web-2: {}; each node's last action: {ran:?}",
        sigterms.len()
    );
    assert_eq!(sigterms.len(), 1, "{sigterms:?}");
    assert_eq!(
        ran.iter()
            .filter(|d| !d.starts_with("run once in the fleet"))
            .count(),
        1,
        "{ran:?}"
    );

    // `lb status --fleet` on another node: every live node and the drain.
    let out = daemons[2]
        .lb(&["status", "--fleet"])
        .expect("lb status --fleet");
    let text = String::from_utf8_lossy(&out.stdout);
    println!("lb status --fleet:\n{text}");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = daemons[2]
        .lb(&["status", "--fleet", "--json"])
        .expect("lb status --fleet --json");
    let f: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let nodes: Vec<&str> = f["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["node"].as_str().unwrap())
        .collect();
    assert_eq!(nodes, ["lb-1", "lb-2", "lb-3"], "{f}");
    for n in f["nodes"].as_array().unwrap() {
        assert_eq!(n["live_flows"]["web-2"], 0, "{f}");
    }
    let web2 = f["admin"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["backend"] == "web-2")
        .expect("web-2's admin state");
    assert_eq!(web2["state"], "draining", "{f}");
    assert_eq!(web2["requested_by"], "lb-1", "{f}");
    drop(daemons);
    drop(fleet);
}
