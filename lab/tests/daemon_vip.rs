//! The real lb daemon in the lab (root only): every backend answers through
//! the VIP (IPv4 and IPv6), and the daemon's pins go when it does.
//! Needs `target/debug/lb` (cargo build -p lb-userspace); skips without it.
//! Run: cargo test -p lb-lab -- --test-threads=1 --nocapture

use std::{collections::BTreeMap, time::Duration};

use lb_lab::{ConfigSpec, Daemon, Lab, LabSpec, LoadRun, LoadSpec, Request, Tool, netns, paths};

#[test]
fn vip_reaches_every_backend() {
    if !lb_lab::is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let lb = paths::lb_binary("debug");
    if !lb.is_file() {
        eprintln!("skipped: no {} (cargo build -p lb-userspace)", lb.display());
        return;
    }
    let lab = Lab::up(LabSpec {
        prefix: "lbvip".into(),
        backends: 3,
        ipv6: true,
    })
    .unwrap();
    let tag = lab.tag().to_owned();
    let daemon = Daemon::start(&lab, &lb, &ConfigSpec::default()).unwrap();
    println!(
        "config:\n{}",
        std::fs::read_to_string(daemon.config_path()).unwrap()
    );
    daemon.wait_ready(Duration::from_secs(20)).unwrap();
    let status = daemon.wait_all_active(Duration::from_secs(20)).unwrap();
    println!(
        "status: {}",
        serde_json::to_string(&status["vips"][0]["backends"]).unwrap()
    );
    assert_eq!(status["interface"], "lab-lb");
    assert!(
        lab.pin_root().join(lab.lb_iface()).is_dir(),
        "pins under {}",
        lab.pin_root().display()
    );

    for url in [lab.vip_url("/"), lab.vip6_url("/").unwrap()] {
        let mut answered: BTreeMap<String, u32> = BTreeMap::new();
        for _ in 0..30 {
            let r = lab
                .request(&Request::get(&url).timeout(Duration::from_secs(5)))
                .unwrap();
            assert!(r.ok(), "{url}: {r:?}");
            *answered.entry(r.body).or_default() += 1;
        }
        println!("{url}: {answered:?}");
        for b in lab.backends() {
            assert!(
                answered.contains_key(b.name()),
                "{} never answered {url}: {answered:?}",
                b.name()
            );
        }
    }

    // A large POST through the VIP: full-size segments through XDP_TX.
    let r = lab
        .request(&Request::post(lab.vip_url("/"), vec![b'x'; 1 << 20]))
        .unwrap();
    assert!(r.ok(), "{r:?}");
    assert!(r.body.ends_with(" 1048576"), "{}", r.body);

    // Both load tools through the VIP: keep-alive GETs (wrk), fresh
    // connections with POST bodies (hey). Nothing drains: nothing may fail.
    let mut wrk = LoadSpec::new(Tool::Wrk, lab.vip_url("/"));
    wrk.duration = Duration::from_secs(2);
    let mut hey = LoadSpec::new(Tool::Hey, lab.vip_url("/"));
    hey.duration = Duration::from_secs(2);
    hey.keepalive = false;
    hey.post_body = Some(2000);
    for spec in [wrk, hey] {
        let r = LoadRun::run(&lab, spec).unwrap();
        println!(
            "{:?}: {} requests, {} non-2xx, errors {:?}, {:.0} rps, p50 {:.2} ms, p99 {:.2} ms over {:?}",
            r.tool,
            r.requests,
            r.non_2xx,
            r.errors,
            r.rps(),
            r.latency_p50_ms,
            r.latency_p99_ms,
            r.duration
        );
        assert!(r.requests > 100, "{}", r.raw);
        assert_eq!((r.non_2xx, r.errors.total()), (0, 0), "{}", r.raw);
        assert!(r.latency_p50_ms > 0.0 && r.latency_p99_ms >= r.latency_p50_ms);
    }
    for b in lab.backends() {
        let posts = b
            .access_log()
            .unwrap()
            .iter()
            .filter(|e| e.method == "POST")
            .count();
        assert!(posts > 10, "{} got {posts} POSTs", b.name());
    }

    let out = daemon.lb(&["status"]).unwrap();
    println!("{}", String::from_utf8_lossy(&out.stdout));
    assert!(out.status.success());

    drop(daemon);
    assert!(!lab.pin_root().exists(), "pins left behind");
    lab.down().unwrap();
    assert!(netns::list().unwrap().iter().all(|n| !n.starts_with(&tag)));
}
