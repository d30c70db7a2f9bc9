//! Smoke test of the lab itself (root only): topology, backends, teardown.
//! Run: cargo test -p lb-lab -- --test-threads=1 --nocapture

use std::time::Duration;

use lb_lab::{Lab, LabSpec, Request, netns};

fn sysctl(ns: &lb_lab::Netns, key: &str) -> String {
    ns.run(&["sysctl", "-n", key]).unwrap().trim().to_owned()
}

#[test]
fn lab_up_and_down() {
    if !lb_lab::is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let lab = Lab::up(LabSpec {
        prefix: "lbsmoke".into(),
        backends: 3,
        ipv6: true,
    })
    .unwrap();
    let tag = lab.tag().to_owned();
    let listed = netns::list().unwrap();
    for ns in lab.namespaces() {
        assert!(ns.starts_with(&tag), "{ns}");
        assert!(listed.contains(&ns), "{ns} not in `ip netns list`");
    }
    assert_eq!(lab.namespaces().len(), 6);
    assert_eq!(lab.lb_iface(), "lab-lb");
    assert_eq!(lab.lb_ns().mac(lab.lb_iface()).unwrap(), lab.lb_mac());

    for b in lab.backends() {
        // Straight to each backend, from the client namespace, v4 and v6.
        let r = lab.request(&Request::get(b.url("/health"))).unwrap();
        assert!(r.ok(), "{}: {r:?}", b.name());
        assert_eq!(r.body, "ok");
        let r = lab.request(&Request::get(b.url("/"))).unwrap();
        assert_eq!(r.body, b.name());
        let v6 = format!("http://[{}]/", b.ipv6().unwrap());
        let r = lab.request(&Request::get(v6)).unwrap();
        assert!(r.ok(), "{}: {r:?}", b.name());
        assert_eq!(r.body, b.name());
        let r = lab
            .request(&Request::post(b.url("/"), vec![b'x'; 1000]))
            .unwrap();
        assert_eq!(r.body, format!("{} 1000", b.name()));

        // The VIP on lo, never answered for in ARP.
        let lo = b.ns().ip(&["addr", "show", "dev", "lo"]).unwrap();
        assert!(lo.contains("198.51.100.10/32"), "{lo}");
        assert!(lo.contains("2001:db8:100::10/128"), "{lo}");
        assert_eq!(sysctl(b.ns(), "net.ipv4.conf.all.arp_ignore"), "1");
        assert_eq!(sysctl(b.ns(), "net.ipv4.conf.all.arp_announce"), "2");
        assert_eq!(
            sysctl(b.ns(), &format!("net.ipv4.conf.{}.arp_ignore", b.iface())),
            "1"
        );
        assert_eq!(b.ns().mac(b.iface()).unwrap(), b.mac());

        // Logs the tests rely on.
        let log = b.access_log().unwrap();
        assert!(
            log.iter()
                .any(|e| e.path == "/health" && e.status == Some(200))
        );
        assert!(
            log.iter()
                .all(|e| e.client.contains("198.51.100.1:")
                    || e.client.contains("[2001:db8:100::1]:"))
        );
        assert!(!b.connections_since(0.0).unwrap().is_empty());
        assert!(b.master_pid().unwrap() > 1);
    }

    // The client reaches the VIP through the LB (the only way: L2 to the LB's MAC).
    let route = lab
        .client_ns()
        .ip(&["route", "get", "198.51.100.10"])
        .unwrap();
    assert!(route.contains("via 198.51.100.2"), "{route}");
    let route6 = lab
        .client_ns()
        .ip(&["-6", "route", "get", "2001:db8:100::10"])
        .unwrap();
    assert!(route6.contains("via 2001:db8:100::2"), "{route6}");
    assert_eq!(sysctl(lab.lb_ns(), "net.ipv4.ip_forward"), "0");
    assert_eq!(
        sysctl(lab.switch_ns(), "net.bridge.bridge-nf-call-iptables"),
        "0"
    );

    // Drain hook (lb_drain): Connection: close on every response, from
    // every worker; only the LB's address may send the notice.
    let web1 = lab.backend("web-1").unwrap();
    let from_client = lab
        .client_ns()
        .run(&[
            "curl",
            "-sS",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "-X",
            "POST",
            "--max-time",
            "5",
            &web1.url(lb_lab::DRAIN_PATH),
        ])
        .unwrap();
    assert_eq!(from_client.trim(), "403");
    web1.set_draining(true).unwrap();
    for _ in 0..4 {
        let out = lab
            .client_ns()
            .run(&["curl", "-sS", "-i", "--max-time", "5", &web1.url("/")])
            .unwrap();
        assert!(
            out.to_ascii_lowercase().contains("connection: close"),
            "{out}"
        );
    }
    web1.set_draining(false).unwrap();
    let out = lab
        .client_ns()
        .run(&["curl", "-sS", "-i", "--max-time", "5", &web1.url("/")])
        .unwrap();
    assert!(
        !out.to_ascii_lowercase().contains("connection: close"),
        "{out}"
    );

    // A request in flight finishes across a graceful stop; SIGTERM is recorded.
    let web3 = lab.backend("web-3").unwrap();
    let slow = lab.spawn_request(Request::get(web3.url("/slow?seconds=1.5")));
    std::thread::sleep(Duration::from_millis(500));
    let before = lb_lab::client::unix_time();
    web3.stop_gracefully().unwrap();
    let r = slow.join().unwrap();
    assert!(r.ok(), "{r:?}");
    assert_eq!(r.body, "web-3");
    assert!(!web3.is_running());
    assert!(web3.master_pid().is_err(), "pid file left behind");
    let terms = web3.sigterm_events().unwrap();
    assert_eq!(terms.len(), 1, "{terms:?}");
    assert!(terms[0] >= before - 0.01);
    web3.restart().unwrap();
    assert!(
        lab.request(&Request::get(web3.url("/health")))
            .unwrap()
            .ok()
    );

    // Streaming: 10 chunks over the requested time.
    let r = lab
        .request(&Request::get(web3.url("/stream?seconds=1")))
        .unwrap();
    assert!(r.ok(), "{r:?}");
    assert_eq!(r.body.lines().count(), 10);
    assert!(r.elapsed >= Duration::from_millis(900), "{:?}", r.elapsed);

    let dir = lab.dir().to_owned();
    lab.down().unwrap();
    let left: Vec<String> = netns::list()
        .unwrap()
        .into_iter()
        .filter(|n| n.starts_with(&tag))
        .collect();
    assert!(left.is_empty(), "namespaces left: {left:?}");
    assert!(!dir.exists() || std::env::var_os("LB_LAB_KEEP").is_some());
}

#[test]
fn stale_labs_are_removed() {
    if !lb_lab::is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    // A namespace named like a lab of a process that is gone.
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let dead = child.id();
    child.wait().unwrap();
    let name = format!("lbstale-{dead}-sw");
    std::process::Command::new("ip")
        .args(["netns", "add", &name])
        .status()
        .unwrap();
    let removed = lb_lab::stale::remove_stale("lbstale").unwrap();
    assert_eq!(removed, vec![name.clone()]);
    assert!(!netns::list().unwrap().contains(&name));
}
