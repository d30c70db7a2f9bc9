//! Control-plane faults under load (root only; issue 13): hostile API input,
//! a second daemon started by mistake, a truncated state file. Each runs
//! keep-alive GET, fresh-connection GET and POST load through the DSR and
//! the NAT VIP with long streams on each one's target, and prints requests,
//! failures and streams completed per mode. Nothing may fail.
//!
//! Run: cargo xtask test -- faults_control

use std::{
    io::{Read as _, Write as _},
    os::unix::net::UnixStream,
    path::Path,
    process::Output,
    thread,
    time::Duration,
};

use lb_lab::LbConfig;
use lb_tests::lab_support::lb_binary;

use crate::{
    load::{Load, Ran, assert_no_failure},
    streams::{StreamOutcome, Streams, assert_unbroken, open_streams, report},
    support::Rig,
};

/// A 15 s drain deadline, so a drain that does not end fails the test
/// quickly.
fn quick_drains(c: &mut LbConfig) {
    for b in c.vip.iter_mut().flat_map(|v| &mut v.backend) {
        b.drain_timeout = Some("15s".into());
    }
}

/// The rig with long streams on both targets, then the loads running and
/// reaching both targets.
fn under_load(prefix: &str) -> (Rig, Streams, Load) {
    let rig = Rig::up(prefix, quick_drains);
    let streams = open_streams(&rig, 6, 1);
    let load = Load::start(&rig, 7.0);
    rig.wait_load_on_targets();
    (rig, streams, load)
}

/// `lb drain TARGET --wait --no-signal` for both modes' targets at once.
/// Without the shutdown signal: the drain then ends when the loads' last
/// keep-alive connections on the targets close, at the end of the run. (A
/// backend stopping under wrk, which retries nothing, breaks requests on
/// idle keep-alive connections: the drain suite's subject, not this one's.)
fn drain_targets(rig: &Rig) -> Vec<Output> {
    thread::scope(|s| {
        let runs: Vec<_> = rig
            .modes
            .iter()
            .map(|m| {
                s.spawn(move || {
                    rig.daemon
                        .lb_timeout(
                            &["drain", m.target, "--wait", "--no-signal"],
                            Duration::from_secs(40),
                        )
                        .expect("lb drain --wait runs")
                })
            })
            .collect();
        runs.into_iter().map(|r| r.join().unwrap()).collect()
    })
}

/// Each drain exited 0 and its backend ended `drained`.
fn assert_drained(rig: &Rig, runs: &[Output]) {
    for (m, run) in rig.modes.iter().zip(runs) {
        let b = rig.daemon.backend_status(m.target).unwrap();
        assert_eq!(
            (run.status.code(), b["drain"]["outcome"].as_str()),
            (Some(0), Some("drained")),
            "{}: {}\n{b:#}",
            m.target,
            String::from_utf8_lossy(&run.stderr)
        );
    }
}

/// Loads and streams joined, printed per mode, and all clean.
fn finish(fault: &str, load: Load, streams: Streams) -> (Vec<Ran>, Vec<StreamOutcome>) {
    let results = load.finish();
    let s = streams.finish();
    report(fault, &results, &s, |_| String::new());
    assert_no_failure(&results);
    assert_unbroken(&s, 1);
    (results, s)
}

/// One raw request to the control socket; the status code.
fn raw(socket: &Path, method: &str, path: &str, body: &[u8]) -> u16 {
    let mut stream = UnixStream::connect(socket).expect("the daemon accepts connections");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: lb\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(body);
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0)
}

/// Hostile calls: huge and negative durations, malformed JSON, oversized
/// bodies, odd names, unknown fields. Each must be refused with a 4xx.
fn hostile(socket: &Path) -> usize {
    let drain = |name: &str| format!("/v1/backends/{name}/drain");
    let big = vec![b'{'; 256 * 1024];
    let calls: Vec<(String, Vec<u8>)> = vec![
        (
            drain("web-3"),
            br#"{"timeout": "18446744073709551615s", "no_signal": true}"#.to_vec(),
        ),
        (drain("web-3"), br#"{"timeout": "-1s"}"#.to_vec()),
        (drain("web-3"), br#"{"timeout": 1e400}"#.to_vec()),
        (drain("web-3"), br#"{"timeout": "NaNs"}"#.to_vec()),
        (
            drain("web-3"),
            br#"{"timeout": "1s", "force": true}"#.to_vec(),
        ),
        (drain("web-3"), b"{not json".to_vec()),
        (drain("web-3"), big),
        (drain("%2e%2e%2fetc"), Vec::new()),
        (drain(&"x".repeat(4000)), Vec::new()),
        (drain("web-1%0d%0aX:%201"), Vec::new()),
        ("/v1/flows?limit=0".into(), Vec::new()),
    ];
    let mut refused = 0;
    for (path, body) in &calls {
        let method = if path.starts_with("/v1/flows") {
            "GET"
        } else {
            "POST"
        };
        let status = raw(socket, method, path, body);
        assert!(
            (400..500).contains(&status),
            "{method} {} answered {status}",
            &path[..path.len().min(60)]
        );
        refused += 1;
    }
    assert_eq!(
        raw(socket, "GET", "/v1/status", b""),
        200,
        "the daemon still answers"
    );
    refused
}

#[test]
fn faults_control_hostile_api_input_during_load_and_a_drain_breaks_nothing() {
    println!("== faults: hostile API input before and during a drain, under load");
    let (rig, streams, load) = under_load("fc-hostile");
    let socket = rig.daemon.socket();
    let before = hostile(&socket);
    let (runs, during) = thread::scope(|s| {
        let attacker = s.spawn(|| (0..3).map(|_| hostile(&socket)).sum::<usize>());
        let runs = drain_targets(&rig);
        (runs, attacker.join().unwrap())
    });
    println!("  hostile calls refused: {before} before the drains, {during} during them");
    finish("hostile API input", load, streams);
    assert_drained(&rig, &runs);
    // web-3 was never drained by the hostile calls.
    assert_eq!(
        rig.daemon.backend_status("web-3").unwrap()["state"],
        "active"
    );
    rig.down();
}

#[test]
fn faults_control_a_second_daemon_on_the_same_pins_is_refused_during_a_drain() {
    println!("== faults: a second daemon on the same pins during a drain, under load");
    let (rig, streams, load) = under_load("fc-second");
    let (runs, second) = thread::scope(|s| {
        let second = s.spawn(|| {
            // In the LB's namespace, where its interface is: the same host.
            let lb = lb_binary().display().to_string();
            let config = rig.daemon.config_path().display().to_string();
            rig.lab
                .lb_ns()
                .nsenter(&[lb.as_str(), "daemon", "--config", config.as_str()])
                .output()
                .expect("a second lb daemon runs")
        });
        let runs = drain_targets(&rig);
        (runs, second.join().unwrap())
    });
    let stderr = String::from_utf8_lossy(&second.stderr);
    println!(
        "  second daemon: exit {:?}, {}",
        second.status.code(),
        stderr.trim()
    );
    assert_eq!(second.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("another lb daemon"), "{stderr}");
    assert!(rig.daemon.is_running(), "the first daemon keeps running");
    finish("second daemon", load, streams);
    assert_drained(&rig, &runs);
    let status = rig.status();
    let vips = status["vips"].as_array().unwrap();
    assert_eq!(vips.len(), 2, "{status:#}");
    let backends: usize = vips
        .iter()
        .map(|v| v["backends"].as_array().unwrap().len())
        .sum();
    assert_eq!(backends, 5, "{status:#}");
    rig.down();
}

#[test]
fn faults_control_a_truncated_state_file_does_not_keep_the_daemon_down() {
    println!("== faults: the state file truncated while the daemon is down, under load");
    let (mut rig, streams, load) = under_load("fc-state");
    rig.daemon.stop().expect("daemon stops");
    let state_file = rig.daemon.config().daemon.state_file.clone();
    std::fs::write(&state_file, b"").expect("truncating the state file");
    rig.daemon.restart().expect("daemon restarts");
    let status = rig
        .daemon
        .wait_ready(Duration::from_secs(20))
        .expect("daemon answers");
    assert_eq!(status["adopted"], true, "{status:#}");
    rig.daemon
        .wait_all_active(Duration::from_secs(20))
        .expect("backends active");
    let dir = Path::new(&state_file).parent().unwrap();
    let aside: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.contains(".corrupt-"))
        .collect();
    println!("  restarted over a zero-length state file; moved aside: {aside:?}");
    assert_eq!(aside.len(), 1, "{aside:?}");
    finish("truncated state file", load, streams);
    rig.down();
}
