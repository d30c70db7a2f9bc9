//! The limits of a drain: a flow table that overflows during it (the second
//! chance saves the drained backend's connections, and must leave the active
//! backends' alone), and its deadline.

use std::{
    io::Write as _,
    net::{SocketAddr, SocketAddrV4},
    thread,
    time::Duration,
};

use lb_lab::{BackendOpts, ConfigSpec, LoadRun, Tool};
use nix::sys::socket::{setsockopt, sockopt};

use super::load_spec;
use crate::support::{
    self, TARGET, assert_clean, drain, exit_code, finish_long, lab, live_flows, now, poll,
    start_daemon, start_long,
};

/// A flow table of 1,024 entries overflowing during the drain (thousands of
/// fresh connections): the long requests in flight on web-2 still complete,
/// through the second-chance path.
#[test]
fn drain_in_flight_requests_survive_flow_table_overflow() {
    let lab = lab("drn-ovf");
    let spec = ConfigSpec {
        max_flows: Some(1024),
        backend: BackendOpts {
            shutdown_when: Some("idle".into()),
            ..BackendOpts::default()
        },
        ..ConfigSpec::default()
    };
    let daemon = start_daemon(&lab, &spec);

    let slow = start_long(&lab, &daemon, "/slow?seconds=8", 6, Duration::from_secs(30));
    let stream = start_long(
        &lab,
        &daemon,
        "/stream?seconds=8",
        6,
        Duration::from_secs(30),
    );
    let (flood, slow_on, stream_on, (out, done)) = thread::scope(|s| {
        let waiter = s.spawn(|| {
            let o = daemon
                .lb_timeout(&["drain", TARGET, "--wait"], Duration::from_secs(40))
                .unwrap();
            (o, now())
        });
        poll("the drain started", Duration::from_secs(5), || {
            (daemon.backend_status(TARGET).ok()?["state"] == "draining").then_some(())
        });
        let flood = LoadRun::spawn(&lab, {
            let mut s = load_spec(&lab, Tool::Hey, false, false, 6);
            s.connections = 8;
            s
        })
        .unwrap();
        let slow_on = finish_long(slow);
        let stream_on = finish_long(stream);
        let flood = flood.join().unwrap();
        (flood, slow_on, stream_on, waiter.join().unwrap())
    });
    let status = daemon.status().unwrap();
    let vip = &status["vips"][0];
    let b = daemon.backend_status(TARGET).unwrap();
    let started = b["drain"]["started_at"].as_f64().unwrap();
    println!(
        "flow table 1024: {} fresh connections; second_chance: VIP {}, {TARGET} {}; new_flows VIP {}; drain {} at +{:.3} s (exit {})",
        flood.requests + flood.errors.total(),
        vip["counters"]["second_chance"],
        b["counters"]["second_chance"],
        vip["counters"]["new_flows"],
        b["drain"]["outcome"],
        done - started,
        exit_code(&out)
    );
    assert_clean("hey fresh-connection GET flood (c=8)", &flood);
    assert!(slow_on >= 1 && stream_on >= 1);
    assert!(
        flood.requests >= 2048,
        "the flood made only {} connections",
        flood.requests
    );
    assert!(
        b["counters"]["second_chance"].as_u64().unwrap() > 0,
        "{b:#}"
    );
    assert_eq!(
        exit_code(&out),
        0,
        "lb drain --wait: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A connection still open at the deadline is forced off and counted, and
/// `lb drain --wait` exits 1.
#[test]
fn drain_deadline_forces_and_counts_what_is_left() {
    let lab = lab("drn-dead");
    let daemon = start_daemon(&lab, &ConfigSpec::default());
    let web2 = lab.backend(TARGET).unwrap();
    let long = start_long(&lab, &daemon, "/slow?seconds=8", 3, Duration::from_secs(15));
    let on = live_flows(&daemon, Some(TARGET)).len() as u64;

    let run = drain(
        &lab,
        &daemon,
        &["--no-signal", "--timeout", "2s"],
        Duration::from_secs(40),
    );
    let b = daemon.backend_status(TARGET).unwrap();
    let d = &b["drain"];
    let started = d["started_at"].as_f64().unwrap();
    println!(
        "deadline 2 s: {on} live on {TARGET}, `lb drain --wait` exited {} at +{:.3} s, outcome {}, forced_flows {}",
        exit_code(&run.wait),
        run.done_at - started,
        d["outcome"],
        d["forced_flows"]
    );
    assert_eq!(
        exit_code(&run.wait),
        1,
        "{}",
        String::from_utf8_lossy(&run.wait.stderr)
    );
    assert_eq!(d["outcome"], "forced", "{b:#}");
    assert_eq!(d["forced_flows"].as_u64(), Some(on), "{b:#}");
    assert_eq!(d["signal"], "skipped");
    assert_eq!(b["state"], "drained");
    assert!((2.0..=3.0).contains(&(run.done_at - started)));
    assert!(
        web2.sigterm_events().unwrap().is_empty(),
        "--no-signal sent a signal"
    );
    assert!(web2.is_running());
    // What became of the forced requests (not asserted: the LB forgot them).
    for r in long.requests {
        let r = r.join().unwrap();
        println!(
            "forced-off era request: status {:?}, body {:?}, curl exit {} {}, {:.2?}",
            r.status, r.body, r.curl_exit, r.error, r.elapsed
        );
    }
}

/// The second chance must take only the draining backend's connections. A
/// connection opened during the drain on an active backend, in the part of
/// the hash space that web-2 held before the flip, whose flow entry an
/// overflowing table evicts, must keep going to its own backend: the second
/// chance table (ACTIVE + DRAINING) names web-2 for it, and web-2 would
/// reset it.
#[test]
fn drain_second_chance_leaves_active_backends_connections_alone() {
    let lab = lab("drn-2nd");
    let spec = ConfigSpec {
        max_flows: Some(1024),
        backend: BackendOpts {
            drain_timeout: Some(Duration::from_mins(1)),
            ..BackendOpts::default()
        },
        ..ConfigSpec::default()
    };
    let daemon = start_daemon(&lab, &spec);
    let vip = SocketAddrV4::new(lab.vip(), 80);
    let get = format!("GET / HTTP/1.1\r\nHost: {}\r\n\r\n", lab.vip());

    // Keeps the drain running: a request web-2 answers in a minute, with TCP
    // keepalive probes so that its flow never idles out.
    let slow = format!(
        "GET /slow?seconds=60 HTTP/1.1\r\nHost: {}\r\n\r\n",
        lab.vip()
    );
    let _keeper = support::place_connections(&lab, &daemon, 1, |c| {
        setsockopt(c, sockopt::KeepAlive, &true).unwrap();
        setsockopt(c, sockopt::TcpKeepIdle, &1).unwrap();
        setsockopt(c, sockopt::TcpKeepInterval, &1).unwrap();
        (&*c).write_all(slow.as_bytes()).unwrap();
    });
    // Client ports whose 5-tuple Maglev gives to web-2: found by connecting,
    // then freed with an RST (no TIME_WAIT; the flow closes).
    let probes = support::place_connections(&lab, &daemon, 3, |_| {});
    let ports: Vec<SocketAddrV4> = probes
        .iter()
        .map(|c| match c.local_addr().unwrap() {
            SocketAddr::V4(a) => a,
            SocketAddr::V6(a) => panic!("IPv6 client address {a}"),
        })
        .collect();
    for c in probes {
        let off = libc::linger {
            l_onoff: 1,
            l_linger: 0,
        };
        setsockopt(&c, sockopt::Linger, &off).unwrap();
    }
    let names: Vec<String> = ports.iter().map(ToString::to_string).collect();
    poll("the probes' flows closed", Duration::from_secs(5), || {
        let f = support::flows(&daemon, None);
        names
            .iter()
            .all(|n| {
                f.iter()
                    .any(|x| x["client"] == n.as_str() && x["state"] == "closing")
            })
            .then_some(())
    });

    let out = daemon.lb(&["drain", TARGET, "--no-signal"]).unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The same 5-tuples again: new connections, which the live table gives to
    // web-1 or web-3.
    let mut conns = Vec::new();
    for p in &ports {
        let c = support::connect_from(lab.client_ns(), *p, vip);
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        (&c).write_all(get.as_bytes()).unwrap();
        let body = support::read_response(&c).unwrap();
        assert_ne!(
            body, TARGET,
            "a new connection reached {TARGET} during its drain"
        );
        conns.push((p.to_string(), c, body));
    }
    let sc_before = daemon.backend_status(TARGET).unwrap()["counters"]["second_chance"]
        .as_u64()
        .unwrap();

    // Overflow the table (Gunicorn closes idle keep-alive connections after
    // 5 s: the flood is shorter).
    let mut flood = load_spec(&lab, Tool::Hey, false, false, 2);
    flood.connections = 8;
    let flood = LoadRun::run(&lab, flood).unwrap();
    let table = support::flows(&daemon, None);
    let evicted: Vec<_> = conns
        .into_iter()
        .filter(|(n, ..)| !table.iter().any(|f| f["client"] == n.as_str()))
        .collect();
    let mut broken = Vec::new();
    for (n, c, body) in &evicted {
        (&*c).write_all(get.as_bytes()).unwrap();
        match support::read_response(c) {
            Ok(b) if &b == body => {}
            other => broken.push(format!("{n} (on {body}): {other:?}")),
        }
    }
    let sc_after = daemon.backend_status(TARGET).unwrap()["counters"]["second_chance"]
        .as_u64()
        .unwrap();
    println!(
        "flood of {} fresh connections; {} of 3 active connections in web-2's former hash space evicted; {TARGET} second_chance {sc_before} -> {sc_after}; broken: {broken:?}",
        flood.requests,
        evicted.len()
    );
    assert!(
        !evicted.is_empty(),
        "the flood evicted none of the connections"
    );
    assert!(
        broken.is_empty(),
        "active connections sent to the draining backend by the second chance: {broken:?}"
    );
}
