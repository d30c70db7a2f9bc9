//! The two scenarios several tests share: the spread of fresh connections
//! over the backends, and a drain under load with long requests in flight.

use super::*;

/// Hey runs of fresh connections (GET /) until at least `target` went through
/// the VIP at `url`; returns the connections each backend's access log shows
/// from `client`, by lb backend name, and checks them against the daemon's
/// per-backend `new_flows` counters.
pub(super) fn spread(
    lab: &Lab,
    daemon: &Daemon,
    url: &str,
    client: &str,
    backends: &[(String, &Backend)],
    target: u64,
) -> BTreeMap<String, u64> {
    let before = new_flows(daemon);
    let t0 = unix_time();
    let mut responses = 0;
    for run in 1..=8 {
        let r = finish(
            &format!("fresh connections, run {run}"),
            hey(lab, url, false, 8, 2.0),
        );
        assert_clean("spread", &r);
        responses += r.requests;
        if responses >= target {
            break;
        }
    }
    assert!(
        responses >= target,
        "only {responses} connections in 8 runs"
    );
    let t1 = unix_time() + 1.0;
    let after = new_flows(daemon);
    let mut counts = BTreeMap::new();
    for (name, b) in backends {
        let n = connections(b, client, t0, t1).len() as u64;
        let flows = after[name] - before[name];
        println!("  {name}: {n} connections in its access log, {flows} new flows in lb status");
        assert_eq!(
            flows, n,
            "{name}: lb counted {flows} new flows, the backend logged {n} connections"
        );
        counts.insert(name.clone(), n);
    }
    let logged: u64 = counts.values().sum();
    println!("  {responses} responses, {logged} connections logged");
    assert_eq!(logged, responses, "every response is one logged connection");
    counts
}

/// What [`drain_under_load`] drains and how hard it loads.
pub(super) struct DrainCase<'a> {
    /// The backend's name in lb ("web-2", "web6-2").
    pub(super) name: &'a str,
    pub(super) backend: &'a Backend,
    /// The VIP's URL for a path.
    pub(super) url: &'a dyn Fn(&str) -> String,
    /// The client's address as the access log writes it.
    pub(super) client: String,
    /// Every Gunicorn's name (what `/` and `/slow` answer).
    pub(super) names: Vec<String>,
    /// Slow and stream requests each held in flight on the backend.
    pub(super) pinned: usize,
    pub(super) connections: u32,
    pub(super) load_secs: f64,
}

/// Test 2 (and 7's drain): `lb drain NAME --wait` under keep-alive and
/// fresh-connection load, with `/slow?seconds=5` and `/stream?seconds=5`
/// requests in flight on the backend.
pub(super) fn drain_under_load(daemon: &Daemon, lab: &Lab, c: &DrainCase) {
    let body_name = c.backend.name().to_owned();
    // Client ports that lb sends to the backend, not in use now: from short
    // probe runs (at most 3).
    let mut ports = BTreeSet::new();
    for run in 1..=3 {
        let t_probe = unix_time();
        let probe = finish(
            &format!("probe run {run} (fresh connections)"),
            hey(lab, &(c.url)("/"), false, 2, 1.0),
        );
        assert_clean("probe run", &probe);
        ports.extend(client_ports(c.backend, &c.client, t_probe));
        let free = ports.difference(&busy_ports(lab)).count();
        println!(
            "    {} client ports went to {}, {free} of them free",
            ports.len(),
            c.name
        );
        if free >= 2 * (c.pinned + 1) {
            break;
        }
    }
    let t_pin = Instant::now();
    let mut pinned = pin_in_flight(
        lab,
        daemon,
        c.name,
        &ports,
        c.url,
        &["/slow?seconds=5", "/stream?seconds=5"],
        c.pinned,
    )
    .into_iter();
    let (slow, slow_elsewhere) = pinned.next().unwrap();
    let (stream, stream_elsewhere) = pinned.next().unwrap();
    println!(
        "  in flight on {}: {} /slow?seconds=5 and {} /stream?seconds=5 (from client ports it served in the probe; {} not on it), pinned in {}",
        c.name,
        slow.len(),
        stream.len(),
        slow_elsewhere.len() + stream_elsewhere.len(),
        secs(t_pin.elapsed())
    );

    let keepalive = hey(lab, &(c.url)("/"), true, c.connections, c.load_secs);
    let fresh = hey(lab, &(c.url)("/"), false, c.connections, c.load_secs);
    thread::sleep(Duration::from_secs(1));
    let still = slow
        .iter()
        .chain(&stream)
        .filter(|r| !r.is_finished())
        .count();
    assert_eq!(
        still,
        slow.len() + stream.len(),
        "every pinned request is still in flight when the drain starts"
    );
    let live_before = daemon.backend_status(c.name).expect("status")["live_flows"]
        .as_u64()
        .unwrap_or(0);

    // The drain runs in the background while the status is polled: the
    // first status that shows the backend out of ACTIVE is answered after
    // the daemon flipped the table (it holds its lock through the flip), so
    // its arrival is when the drain has begun in the kernel, at the latest.
    let t_cmd = unix_time();
    let cmd = Instant::now();
    let (out, t_began, pinned_at_start) = thread::scope(|s| {
        let drain = s.spawn(|| {
            daemon.lb_timeout(
                &["drain", c.name, "--wait", "--timeout", "30s"],
                Duration::from_secs(45),
            )
        });
        let t_began = loop {
            let st = daemon.backend_status(c.name).expect("status");
            if st["state"] != "active" {
                break unix_time();
            }
            assert!(cmd.elapsed() < Duration::from_secs(5), "drain not started");
        };
        // The connections the drain pinned to the backend (the flip is done,
        // so no flow listed now was made after it).
        let pinned: BTreeSet<String> = flows(daemon, Some(c.name))
            .into_iter()
            .map(|f| f.client)
            .collect();
        (
            drain.join().expect("drain thread").expect("lb drain runs"),
            t_began,
            pinned,
        )
    });
    let took = cmd.elapsed();
    let t_ret = unix_time();
    println!(
        "  lb drain {} --wait: {} after {} ({} live flows when it started)",
        c.name,
        out.status,
        secs(took),
        live_before
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    for line in stdout.lines().chain(stderr.lines()).rev().take(3) {
        println!("    | {line}");
    }
    let status = daemon.backend_status(c.name).expect("status");
    let drain = &status["drain"];
    let started = drain["started_at"].as_f64().expect("drain.started_at");
    println!(
        "  drain: recorded {:.3} s after the command, shown in the status {:.3} s after that; signal {}, outcome {}, initial flows {}, forced {}, last action {}",
        started - t_cmd,
        t_began - started,
        drain["signal"],
        drain["outcome"],
        drain["initial_flows"],
        drain["forced_flows"],
        status["last_action"]["detail"]
    );
    let left: Vec<Flow> = flows(daemon, Some(c.name))
        .into_iter()
        .filter(|f| f.state != "closing")
        .collect();
    if !left.is_empty() {
        println!("  flows of {} still not closing: {left:?}", c.name);
    }
    let ka = finish("keep-alive GET", keepalive);
    let fr = finish("fresh-connection GET", fresh);

    // No connection accepted after the drain began (as the status showed;
    // 100 ms for a connection whose SYN passed just before the flip to reach
    // the app), except ones the drain pinned to it: Go's keep-alive client
    // may open a connection before the drain and use it only later. Counted
    // from the load's start.
    let b = c.backend;
    let before_drain = connections(b, &c.client, ka.started_at, started).len();
    let flip = connections(b, &c.client, started, t_began).len();
    let grace = connections(b, &c.client, t_began, t_began + 0.1).len();
    let (late_pinned, after): (Vec<_>, Vec<_>) =
        connections(b, &c.client, t_began + 0.1, f64::INFINITY)
            .into_iter()
            .partition(|e| pinned_at_start.contains(&e.client));
    let after_return = connections(b, &c.client, t_ret + 0.1, f64::INFINITY).len();
    let last = connections(b, &c.client, started - 1.0, f64::INFINITY)
        .last()
        .map_or(f64::NAN, |e| e.t - started);
    println!(
        "  {} accepted {before_drain} connections under load before the drain was recorded, {flip} until the status showed it, {grace} in the next 100 ms, {} later ({after_return} after the command returned; {} of them pinned at the drain's start, first used later); the last at drain start {last:+.3} s",
        b.name(),
        after.len() + late_pinned.len(),
        late_pinned.len()
    );

    assert!(
        out.status.success(),
        "drain failed: {stdout}{stderr}\ndaemon log:\n{}",
        daemon.log_tail(30)
    );
    assert_clean("keep-alive load", &ka);
    assert_clean("fresh-connection load", &fr);
    assert!(before_drain > 0, "the load never reached {}", b.name());
    assert!(
        after.is_empty(),
        "{} accepted connections after the drain began: {after:?}",
        b.name()
    );

    let slow_by = join_all(
        "slow on the drained backend",
        slow,
        true,
        std::slice::from_ref(&body_name),
        std::borrow::ToOwned::to_owned,
    );
    let stream_by = join_all(
        "stream on the drained backend",
        stream,
        true,
        std::slice::from_ref(&body_name),
        stream_body,
    );
    let names = &c.names;
    let elsewhere = join_all("slow not pinned", slow_elsewhere, false, names, |n| {
        n.to_owned()
    })
    .values()
    .sum::<usize>()
        + join_all(
            "stream not pinned",
            stream_elsewhere,
            false,
            names,
            stream_body,
        )
        .values()
        .sum::<usize>();
    println!(
        "  completed with full bodies: {slow_by:?} /slow, {stream_by:?} /stream on {}, {elsewhere} on the others",
        c.name
    );

    // Its Gunicorn master got SIGTERM (once, after the drain began) and exited.
    assert!(
        b.wait_exit(Duration::from_secs(40)).expect("wait"),
        "{}'s Gunicorn still runs",
        b.name()
    );
    let events = b.events().expect("events");
    let sigterms: Vec<f64> = b.sigterm_events().expect("events");
    println!(
        "  {}'s master: SIGTERM at drain start + {} s, events {:?}",
        b.name(),
        sigterms
            .iter()
            .map(|t| format!("{:.3}", t - started))
            .collect::<Vec<_>>()
            .join(", "),
        events.iter().map(|e| e.event.as_str()).collect::<Vec<_>>()
    );
    assert_eq!(sigterms.len(), 1, "one SIGTERM: {events:?}");
    assert!(sigterms[0] >= started, "SIGTERM before the drain began");
    assert!(
        events.iter().any(|e| e.event == "exit"),
        "the master exited through Gunicorn's shutdown: {events:?}"
    );

    // lb says drained, nothing live.
    let status = daemon.backend_status(c.name).expect("status");
    println!(
        "  lb status {}: state {}, live flows {}, drain outcome {}",
        c.name, status["state"], status["live_flows"], status["drain"]["outcome"]
    );
    assert_eq!(status["state"], "drained");
    assert_eq!(status["live_flows"], 0);
    assert_eq!(status["drain"]["outcome"], "drained");
    assert_eq!(status["drain"]["forced_flows"], 0);
}
