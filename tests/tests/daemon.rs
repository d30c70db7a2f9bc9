//! The `lb` daemon and CLI against a real data plane in the lab (root only):
//! it programs a VIP, survives SIGKILL by adopting its pins with the flow
//! table intact, reloads, resolves MACs, tears down cleanly, and the CLI keeps
//! its exit-code contract. Run: cargo xtask test -- daemon

use std::{collections::BTreeMap, process::Command, time::Duration};

use lb_lab::{ConfigSpec, Daemon, Lab, LabSpec, LbConfig, Request};
use lb_tests::lab_support::{lb_binary, poll};
use serde_json::Value;

fn lab(prefix: &str, backends: usize) -> Lab {
    assert!(lb_lab::is_root(), "these tests need root (namespaces, XDP)");
    Lab::up(LabSpec {
        prefix: prefix.into(),
        backends,
        ipv6: false,
    })
    .expect("lab up")
}

fn start(lab: &Lab, config: LbConfig) -> Daemon {
    let daemon = Daemon::start_with(lab, &lb_binary(), config).expect("daemon starts");
    daemon
        .wait_ready(Duration::from_secs(20))
        .expect("daemon answers");
    daemon
}

/// Sends `n` GETs through the VIP; returns how many each backend answered.
fn spread(lab: &Lab, n: usize) -> BTreeMap<String, usize> {
    let mut answered = BTreeMap::new();
    for _ in 0..n {
        let r = lab
            .request(&Request::get(lab.vip_url("/")).timeout(Duration::from_secs(5)))
            .expect("curl runs");
        assert!(r.ok(), "request through the VIP failed: {r:?}");
        *answered.entry(r.body).or_insert(0) += 1;
    }
    answered
}

fn xdp_attached(lab: &Lab) -> bool {
    let out = lab
        .lb_ns()
        .run(&["ip", "link", "show", "dev", lab.lb_iface()])
        .expect("ip link");
    out.contains("xdp")
}

fn backend_names(status: &Value) -> Vec<String> {
    status["vips"][0]["backends"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["name"].as_str().unwrap().to_string())
        .collect()
}

#[test]
// The metrics are whole counts in f64: sums and states compare exactly.
#[allow(clippy::float_cmp)]
fn daemon_programs_the_vip_and_status_shows_it() {
    let lab = lab("lbd-start", 2);
    // `auto` on the lab's veth must pick generic: native would attach and
    // then drop every forwarded frame (no XDP program on the peer).
    let spec = ConfigSpec {
        metrics: Some("127.0.0.1:9464".parse().unwrap()),
        xdp_mode: "auto".into(),
        ..ConfigSpec::default()
    };
    let daemon = start(&lab, LbConfig::render(&lab, &spec));
    let status = daemon.wait_all_active(Duration::from_secs(20)).unwrap();
    println!("status: {status:#}");
    assert_eq!(status["interface"], lab.lb_iface());
    assert_eq!(status["xdp_mode"], "generic", "auto on a veth");
    assert_eq!(status["adopted"], false);
    let vip = &status["vips"][0];
    assert_eq!(vip["name"], "web");
    assert_eq!(vip["address"], lab.vip().to_string());
    assert_eq!(vip["port"], 80);
    assert_eq!(vip["protocol"], "tcp");
    assert_eq!(backend_names(&status), ["web-1", "web-2"]);
    assert!(xdp_attached(&lab));

    let answered = spread(&lab, 40);
    println!("40 requests through the VIP: {answered:?}");
    assert_eq!(answered.values().sum::<usize>(), 40);
    assert_eq!(answered.len(), 2, "both backends answer: {answered:?}");
    let status = daemon.status().unwrap();
    let new_flows: u64 = status["vips"][0]["counters"]["new_flows"].as_u64().unwrap();
    assert!(new_flows >= 40, "VIP new_flows {new_flows} < 40");

    // Prometheus, scraped inside the LB namespace where the daemon listens.
    let metrics = daemon.metrics().unwrap();
    let sample = |prefix: &str| -> f64 {
        metrics
            .lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix}… in:\n{metrics}"))
            .rsplit(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    let vip_flows = sample("lb_vip_new_flows_total{");
    let b1 = sample("lb_backend_new_flows_total{vip=\"web\",backend=\"web-1\"");
    let b2 = sample("lb_backend_new_flows_total{vip=\"web\",backend=\"web-2\"");
    println!("metrics: VIP new flows {vip_flows}, web-1 {b1}, web-2 {b2}");
    assert!(vip_flows >= 40.0 && b1 + b2 == vip_flows, "{metrics}");
    assert_eq!(
        sample(
            "lb_backend_state{vip=\"web\",backend=\"web-1\",address=\"198.51.100.11\",state=\"active\"}"
        ),
        1.0
    );

    let human = daemon.lb(&["status"]).unwrap();
    assert!(human.status.success());
    let human = String::from_utf8_lossy(&human.stdout);
    assert!(
        human.contains("web-1") && human.contains("active"),
        "{human}"
    );
}

#[test]
fn sigkill_and_restart_adopt_the_pins_and_keep_the_flows() {
    let lab = lab("lbd-adopt", 2);
    let mut daemon = start(&lab, LbConfig::render(&lab, &ConfigSpec::default()));
    daemon.wait_all_active(Duration::from_secs(20)).unwrap();

    // A request in flight across the crash, and the flows the table holds.
    let slow = lab.spawn_request(
        Request::get(lab.vip_url("/slow?seconds=4")).timeout(Duration::from_secs(20)),
    );
    let flows_before: Vec<Value> = poll("the slow request's flow", Duration::from_secs(5), || {
        let out = daemon.lb(&["flows", "--json"]).ok()?;
        let flows: Vec<Value> = serde_json::from_slice(&out.stdout).ok()?;
        let live: Vec<Value> = flows.into_iter().filter(|f| f["state"] == "live").collect();
        (!live.is_empty()).then_some(live)
    });
    println!("live flows before the crash: {}", flows_before.len());

    daemon.kill9();
    assert!(
        xdp_attached(&lab),
        "the program stays attached without the daemon"
    );
    // The data plane forwards on its own while no daemon runs.
    let answered = spread(&lab, 10);
    println!("10 requests with no daemon running: {answered:?}");

    daemon.restart().unwrap();
    daemon.wait_ready(Duration::from_secs(20)).unwrap();
    let status = daemon.status().unwrap();
    assert_eq!(status["adopted"], true, "{status:#}");
    let out = daemon.lb(&["flows", "--json"]).unwrap();
    let flows_after: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    for before in &flows_before {
        let kept = flows_after
            .iter()
            .find(|f| f["client"] == before["client"])
            .unwrap_or_else(|| panic!("flow {} lost across the restart", before["client"]));
        assert_eq!(kept["backend"], before["backend"]);
        assert!(kept["age_s"].as_f64().unwrap() >= before["age_s"].as_f64().unwrap());
    }
    let r = slow.join().unwrap();
    assert!(r.ok(), "the request in flight across the crash: {r:?}");
    println!(
        "in-flight request across SIGKILL + restart: {} in {:?}",
        r.body, r.elapsed
    );
}

#[test]
fn reload_adds_and_removes_a_backend() {
    let lab = lab("lbd-reload", 3);
    let mut config = LbConfig::render(&lab, &ConfigSpec::default());
    config.vip[0].backend.retain(|b| b.name != "web-3");
    let mut daemon = start(&lab, config.clone());
    daemon.wait_all_active(Duration::from_secs(20)).unwrap();
    let before = spread(&lab, 30);
    assert!(!before.contains_key("web-3"), "{before:?}");

    let mut next = LbConfig::render(&lab, &ConfigSpec::default());
    next.vip[0].backend.retain(|b| b.name != "web-2");
    let out = daemon.reload_with(&next).unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let said = String::from_utf8_lossy(&out.stdout);
    println!("lb reload: {said}");
    assert!(said.contains("web-3") && said.contains("web-2"), "{said}");
    let out = daemon.lb(&["reload", "--json"]).unwrap();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    println!("second reload (no change): {report}");
    assert_eq!(report["added"], serde_json::json!([]));
    assert_eq!(report["unchanged"], serde_json::json!(["web-1", "web-3"]));

    let status = daemon.wait_all_active(Duration::from_secs(20)).unwrap();
    assert_eq!(backend_names(&status), ["web-1", "web-3"]);
    let after = spread(&lab, 40);
    println!("before reload: {before:?}; after: {after:?}");
    assert!(
        !after.contains_key("web-2"),
        "removed backend still gets connections"
    );
    assert!(after.contains_key("web-3"), "added backend gets none");
}

#[test]
fn macs_resolve_from_the_neighbour_table_or_keep_the_backend_out() {
    let lab = lab("lbd-mac", 2);
    let mut config = LbConfig::render(&lab, &ConfigSpec::default());
    let vip = &mut config.vip[0];
    vip.backend[1].mac = None; // web-2: resolved by ARP
    let mut ghost = vip.backend[1].clone();
    ghost.name = "ghost".into();
    ghost.address = "198.51.100.99".into(); // nobody answers ARP for it
    ghost.health = None;
    ghost.shutdown = None;
    vip.backend.push(ghost);
    let daemon = start(&lab, config);
    let web2 = poll("web-2's MAC", Duration::from_secs(10), || {
        let b = daemon.backend_status("web-2").ok()?;
        (b["state"] == "active").then_some(b)
    });
    assert_eq!(web2["mac"], lab.backend("web-2").unwrap().mac());
    let ghost = daemon.backend_status("ghost").unwrap();
    println!("unresolvable backend: {ghost:#}");
    assert_eq!(ghost["state"], "down");
    assert!(ghost["problem"].as_str().unwrap().contains("unresolved"));
    let answered = spread(&lab, 30);
    assert!(!answered.contains_key("ghost"));
    assert_eq!(
        answered.values().sum::<usize>(),
        30,
        "nothing black-holed: {answered:?}"
    );
}

#[test]
fn teardown_leaves_nothing_pinned_or_attached() {
    let lab = lab("lbd-down", 1);
    let mut daemon = start(&lab, LbConfig::render(&lab, &ConfigSpec::default()));
    let pins = lab.pin_root().join(lab.lb_iface());
    assert!(pins.join("link").exists());
    let out = daemon.lb(&["teardown"]).unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{}", String::from_utf8_lossy(&out.stdout));
    assert!(!pins.exists(), "{} still there", pins.display());
    assert!(!xdp_attached(&lab), "XDP still attached");
    poll("the daemon to exit", Duration::from_secs(10), || {
        (!daemon.is_running()).then_some(())
    });
    let _ = daemon.stop();
    // A new deployment must not inherit this one's drains or ids.
    let state_file = std::path::PathBuf::from(&daemon.config().daemon.state_file);
    assert!(!state_file.exists(), "{} still there", state_file.display());
}

#[test]
fn cli_exit_codes() {
    let lb = lb_binary();
    let lab = lab("lbd-cli", 1);
    let daemon = start(&lab, LbConfig::render(&lab, &ConfigSpec::default()));

    let out = daemon.lb(&["drain", "nope"]).unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no backend named \"nope\""), "{err}");

    let out = daemon.lb(&["drain"]).unwrap();
    assert_eq!(out.status.code(), Some(2), "usage error");

    let out = Command::new(&lb)
        .args(["--socket", "/run/lb-test-nowhere.sock", "status"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/run/lb-test-nowhere.sock"));

    // A bad config names the file, the line and the key, exits 2, touches nothing.
    let bad = lab.dir().join("bad.toml");
    let text = std::fs::read_to_string(daemon.config_path())
        .unwrap()
        .replacen("port = 80", "port = 0", 1);
    std::fs::write(&bad, &text).unwrap();
    let line = text.lines().position(|l| l.trim() == "port = 0").unwrap() + 1;
    let out = Command::new(&lb)
        .args(["daemon", "--config"])
        .arg(&bad)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    println!("bad config: {err}");
    assert_eq!(out.status.code(), Some(2));
    assert!(err.contains(&format!("{}:{line}:", bad.display())), "{err}");
    assert!(err.contains("vip[0].port"), "{err}");
    assert!(daemon.status().is_ok(), "the running daemon is untouched");
}

#[test]
fn teardown_with_the_config_works_without_a_daemon() {
    let lab = lab("lbd-off", 1);
    let mut daemon = start(&lab, LbConfig::render(&lab, &ConfigSpec::default()));
    daemon.kill9();
    let pins = lab.pin_root().join(lab.lb_iface());
    assert!(xdp_attached(&lab) && pins.join("link").exists());
    let out = Command::new(lb_binary())
        .arg("--socket")
        .arg(daemon.socket())
        .args(["teardown", "--config"])
        .arg(daemon.config_path())
        .output()
        .unwrap();
    println!("{}", String::from_utf8_lossy(&out.stdout));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!pins.exists(), "{} still there", pins.display());
    let state_file = std::path::PathBuf::from(&daemon.config().daemon.state_file);
    assert!(!state_file.exists(), "{} still there", state_file.display());
    poll("the program to detach", Duration::from_secs(5), || {
        (!xdp_attached(&lab)).then_some(())
    });
}
