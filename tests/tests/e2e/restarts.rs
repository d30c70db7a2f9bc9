//! Tests 3, 5 and 6: every backend restarted in turn, the daemon killed and
//! restarted, a backend added by `lb reload`, all under load.

use super::*;

#[test]
fn e2e_3_rolling_restart() {
    const LOAD_SECS: f64 = 25.0;
    println!("== e2e 3: rolling restart of every backend under load");
    let (lab, daemon) = up("e2eroll", 3, false, &ConfigSpec::default());
    let keepalive = hey(&lab, &lab.vip_url("/"), true, 6, LOAD_SECS);
    let fresh = hey(&lab, &lab.vip_url("/"), false, 6, LOAD_SECS);
    let client = client_v4(&lab);
    thread::sleep(Duration::from_secs(1));
    let roll = Instant::now();
    let mut problems = Vec::new();
    for b in lab.backends() {
        let name = b.name();
        let t = Instant::now();
        // Only GET / in flight: a drain takes about a second; 10 s is the
        // deadline of a stuck one.
        let out = daemon
            .lb_timeout(
                &["drain", name, "--wait", "--timeout", "10s"],
                Duration::from_secs(30),
            )
            .expect("lb drain runs");
        let drained = t.elapsed();
        if !out.status.success() {
            problems.push(format!(
                "lb drain {name} --wait: {} after {}: {}",
                out.status,
                secs(drained),
                String::from_utf8_lossy(&out.stderr).trim()
            ));
            break;
        }
        assert!(
            b.wait_exit(Duration::from_secs(40)).expect("wait"),
            "{name}'s Gunicorn did not exit after lb's SIGTERM"
        );
        let exited = t.elapsed();
        b.restart().expect("backend restarts");
        let restarted = t.elapsed();
        lb_ok(&daemon, &["enable", name]);
        let t_enable = unix_time();
        wait_backend(&daemon, name, Duration::from_secs(15), "active", |s| {
            s["state"] == "active" && s["health"] == "healthy"
        });
        let active = t.elapsed();
        let deadline = Instant::now() + Duration::from_secs(10);
        let first_new = loop {
            let c = connections(b, &client, t_enable, f64::INFINITY);
            if let Some(e) = c.first() {
                break e.t - t_enable;
            }
            assert!(
                Instant::now() < deadline,
                "{name} got no new connection within 10 s of being active"
            );
            thread::sleep(Duration::from_millis(50));
        };
        println!(
            "  {name}: drained {}, Gunicorn exited {}, restarted and ready {}, enabled and active {}, first new connection {:.3} s after enable",
            secs(drained),
            secs(exited),
            secs(restarted),
            secs(active),
            first_new
        );
    }
    let rolled = roll.elapsed();
    println!("  rolled in {}", secs(rolled));
    let ka = finish("keep-alive GET", keepalive);
    let fr = finish("fresh-connection GET", fresh);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(
        rolled.as_secs_f64() + 1.0 < LOAD_SECS,
        "the roll outlasted the load; raise LOAD_SECS"
    );
    assert_clean("keep-alive load", &ka);
    assert_clean("fresh-connection load", &fr);
    down(lab, daemon);
}

#[test]
fn e2e_5_daemon_crash() {
    println!("== e2e 5: SIGKILL the lb daemon under load, restart it");
    let (lab, mut daemon) = up("e2edaemon", 3, false, &ConfigSpec::default());
    let slow: Vec<_> = (0..3)
        .map(|_| {
            lab.spawn_request(
                Request::get(lab.vip_url("/slow?seconds=5")).timeout(Duration::from_secs(30)),
            )
        })
        .collect();
    thread::sleep(Duration::from_millis(300));
    let slow_clients: Vec<String> = flows(&daemon, None)
        .into_iter()
        .filter(|f| f.state == "live")
        .map(|f| f.client)
        .collect();
    assert_eq!(slow_clients.len(), 3, "the 3 slow requests' flows");
    // The connections that must outlive the crash: the slow requests and the
    // keep-alive load's connections, listed before the fresh-connection load
    // starts. A fresh connection's 5-tuple is legitimately reused by a later
    // connection (a new entry, a new age) as the client's ports recycle, so
    // the ages are compared on these only.
    let keepalive = hey(&lab, &lab.vip_url("/"), true, 6, 8.0);
    let want = slow_clients.len() + 6;
    let long_lived: BTreeSet<String> = poll(
        &format!("{want} live flows (slow requests and keep-alive connections)"),
        Duration::from_secs(5),
        || {
            let live: BTreeSet<String> = flows(&daemon, None)
                .into_iter()
                .filter(|f| f.state == "live")
                .map(|f| f.client)
                .collect();
            (live.len() >= want).then_some(live)
        },
    );
    let fresh = hey(&lab, &lab.vip_url("/"), false, 6, 8.0);
    thread::sleep(Duration::from_millis(1500));

    // Each listing takes a moment (a debug `lb` under load): the ages it
    // reports were read somewhere inside it. Bracket both.
    let pre_started = Instant::now();
    let pre: BTreeMap<String, Flow> = flows(&daemon, None)
        .into_iter()
        .filter(|f| f.state == "live" && long_lived.contains(&f.client))
        .map(|f| (f.client.clone(), f))
        .collect();
    let t_pre = Instant::now();
    daemon.kill9();
    let killed = Instant::now();
    thread::sleep(Duration::from_secs(1));
    daemon.restart().expect("daemon restarts");
    let status = daemon.wait_ready(READY).expect("daemon answers again");
    let back = killed.elapsed();
    let post_started = Instant::now();
    let post: BTreeMap<String, Flow> = flows(&daemon, None)
        .into_iter()
        .map(|f| (f.client.clone(), f))
        .collect();
    let dt = t_pre.elapsed().as_secs_f64();
    // The ages grew by at least the gap between the listings and at most
    // the span from the start of the first to the end of the second.
    let (dt_lo, dt_hi) = (
        post_started.duration_since(t_pre).as_secs_f64(),
        pre_started.elapsed().as_secs_f64(),
    );
    println!(
        "  killed, restarted and answering after {}: adopted {}",
        secs(back),
        status["adopted"]
    );
    assert_eq!(
        status["adopted"], true,
        "the restarted daemon adopts the pins"
    );
    daemon
        .wait_all_active(READY)
        .expect("backends active after the restart");

    // Pre-crash flows are still in the table with the same creation time:
    // their age grew by the time between the two listings.
    let mut kept = 0;
    let mut worst: f64 = 0.0;
    for (client, f) in &pre {
        let Some(p) = post.get(client) else { continue };
        assert_eq!(p.backend, f.backend, "{client} changed backend");
        let grew = p.age_s - f.age_s;
        let outside = (dt_lo - grew).max(grew - dt_hi).max(0.0);
        worst = worst.max(outside);
        kept += 1;
    }
    println!(
        "  flows live before the crash: {}; still in the table after: {kept}; ages grew by the listings' interval ({dt_lo:.3}..{dt_hi:.3} s, {dt:.3} s end to end), off by at most {worst:.3} s",
        pre.len()
    );
    for c in &slow_clients {
        assert!(post.contains_key(c), "slow request flow {c} lost");
    }
    assert!(
        pre.len() > slow_clients.len() && kept == pre.len(),
        "every long-lived pre-crash flow kept ({kept} of {})",
        pre.len()
    );
    assert!(worst < 0.1, "flow ages do not match: off by {worst:.3} s");

    let ka = finish("keep-alive GET", keepalive);
    let fr = finish("fresh-connection GET", fresh);
    assert_clean("keep-alive load", &ka);
    assert_clean("fresh-connection load", &fr);
    let names: Vec<String> = lab.backends().iter().map(|b| b.name().to_owned()).collect();
    let by = join_requests("slow across the crash", slow, &names);
    println!("  /slow?seconds=5 across the crash completed: {by:?}");
    down(lab, daemon);
}

#[test]
fn e2e_6_reload_adds_backend() {
    println!("== e2e 6: add web-4 by config + lb reload under load");
    let lab = lab("e2ereload", 4, false);
    let full = LbConfig::render(&lab, &ConfigSpec::default());
    let mut three = full.clone();
    three.vip[0].backend.retain(|b| b.name != "web-4");
    let mut daemon = daemon(&lab, three);
    let names = backends(&daemon.status().unwrap());
    assert_eq!(
        names.keys().collect::<Vec<_>>(),
        ["web-1", "web-2", "web-3"]
    );
    let slow: Vec<_> = (0..6)
        .map(|_| {
            lab.spawn_request(
                Request::get(lab.vip_url("/slow?seconds=5")).timeout(Duration::from_secs(30)),
            )
        })
        .collect();
    let keepalive = hey(&lab, &lab.vip_url("/"), true, 6, 8.0);
    let fresh = hey(&lab, &lab.vip_url("/"), false, 6, 8.0);
    thread::sleep(Duration::from_millis(1500));

    let t_reload = unix_time();
    daemon.write_config(&full).expect("config written");
    let report = lb_ok(&daemon, &["reload", "--json"]);
    let report: serde_json::Value = serde_json::from_str(&report).expect("reload report");
    println!("  lb reload: {report}");
    assert_eq!(report["added"], serde_json::json!(["web-4"]));
    assert_eq!(report["removed"], serde_json::json!([]));
    assert_eq!(report["changed"], serde_json::json!([]));
    let reloaded = Instant::now();
    wait_backend(&daemon, "web-4", Duration::from_secs(15), "active", |s| {
        s["state"] == "active"
    });
    println!(
        "  web-4 active {} after the reload",
        secs(reloaded.elapsed())
    );

    let ka = finish("keep-alive GET", keepalive);
    let fr = finish("fresh-connection GET", fresh);
    assert_clean("keep-alive load", &ka);
    assert_clean("fresh-connection load", &fr);
    let web4 = lab.backend("web-4").unwrap();
    let got = connections(web4, &client_v4(&lab), t_reload, f64::INFINITY).len();
    let nf = new_flows(&daemon)["web-4"];
    println!(
        "  web-4 after the reload: {got} connections in its access log, {nf} new flows in lb status"
    );
    assert!(got > 0, "web-4 got no connection after the reload");
    assert_eq!(nf, got as u64, "lb's new flows for web-4 = its access log");
    let three: Vec<String> = ["web-1", "web-2", "web-3"].map(String::from).to_vec();
    let by = join_requests("slow across the reload", slow, &three);
    println!("  /slow?seconds=5 in flight across the reload completed: {by:?}");
    down(lab, daemon);
}
