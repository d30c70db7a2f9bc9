//! Control-plane faults under load (root only; issue 13): hostile API input,
//! a second daemon started by mistake, a truncated state file. Each runs
//! keep-alive GET, fresh-connection GET and POST load through the VIP with
//! long /slow and /stream requests on web-2, and prints requests, failures
//! and streams completed. Nothing may fail.
//!
//! Run: cargo xtask test -- faults_control

use std::{
    io::{Read as _, Write as _},
    os::unix::net::UnixStream,
    path::Path,
    thread,
    time::Duration,
};

use lb_lab::{BackendOpts, ConfigSpec, Lab, LoadRun, LoadSpec, Tool};
use lb_tests::lab_support::lb_binary;

use crate::drain_support::{
    Long, TARGET, assert_clean, drain, exit_code, finish_long, lab, now, start_daemon, start_long,
    wait_served,
};

/// A 15 s deadline, so a drain that does not end fails the test quickly.
fn spec() -> ConfigSpec {
    ConfigSpec {
        backend: BackendOpts {
            drain_timeout: Some(Duration::from_secs(15)),
            ..BackendOpts::default()
        },
        ..ConfigSpec::default()
    }
}

fn load_spec(lab: &Lab, keepalive: bool, post: bool, secs: u64) -> LoadSpec {
    let mut s = LoadSpec::new(Tool::Hey, lab.vip_url("/"));
    s.connections = 4;
    s.threads = 2;
    s.duration = Duration::from_secs(secs);
    s.keepalive = keepalive;
    s.post_body = post.then_some(1000);
    s
}

/// The three loads of every fault, running for `secs`.
fn start_loads(lab: &Lab, secs: u64) -> Vec<(&'static str, LoadRun)> {
    [
        (
            "hey keep-alive GET (c=4)",
            load_spec(lab, true, false, secs),
        ),
        (
            "hey fresh-connection GET (c=4)",
            load_spec(lab, false, false, secs),
        ),
        (
            "hey fresh-connection POST 1000 B (c=4)",
            load_spec(lab, false, true, secs),
        ),
    ]
    .into_iter()
    .map(|(label, s)| (label, LoadRun::spawn(lab, s).expect("load starts")))
    .collect()
}

/// Long requests on web-2: /slow and /stream, started before the fault.
fn start_streams(lab: &Lab, daemon: &lb_lab::Daemon) -> [Long; 2] {
    [
        start_long(lab, daemon, "/slow?seconds=4", 4, Duration::from_secs(30)),
        start_long(lab, daemon, "/stream?seconds=4", 4, Duration::from_secs(30)),
    ]
}

/// Every load clean, every long request complete with its full body.
fn finish(loads: Vec<(&'static str, LoadRun)>, streams: [Long; 2]) {
    for (label, run) in loads {
        assert_clean(label, &run.join().expect("load ran"));
    }
    for long in streams {
        finish_long(long);
    }
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
    let lab = lab("fc-hostile");
    let daemon = start_daemon(&lab, &spec());
    let web2 = lab.backend(TARGET).unwrap();
    let streams = start_streams(&lab, &daemon);
    let since = now();
    let loads = start_loads(&lab, 6);
    wait_served(&lab, web2, since, 20);
    let before = hostile(&daemon.socket());
    let (run, during) = thread::scope(|s| {
        let socket = daemon.socket();
        let attacker = s.spawn(move || (0..3).map(|_| hostile(&socket)).sum::<usize>());
        let run = drain(&lab, &daemon, &[], Duration::from_secs(40));
        (run, attacker.join().unwrap())
    });
    println!("hostile calls refused: {before} before the drain, {during} during it");
    finish(loads, streams);
    let b = daemon.backend_status(TARGET).unwrap();
    assert_eq!(
        (exit_code(&run.wait), b["drain"]["outcome"].as_str()),
        (0, Some("drained")),
        "{b:#}"
    );
    // web-3 was never drained by the hostile calls.
    assert_eq!(daemon.backend_status("web-3").unwrap()["state"], "active");
}

#[test]
fn faults_control_a_second_daemon_on_the_same_pins_is_refused_during_a_drain() {
    let lab = lab("fc-second");
    let daemon = start_daemon(&lab, &spec());
    let web2 = lab.backend(TARGET).unwrap();
    let streams = start_streams(&lab, &daemon);
    let since = now();
    let loads = start_loads(&lab, 6);
    wait_served(&lab, web2, since, 20);
    let (run, second) = thread::scope(|s| {
        let second = s.spawn(|| {
            std::process::Command::new(lb_binary())
                .args(["daemon", "--config"])
                .arg(daemon.config_path())
                .output()
                .expect("a second lb daemon runs")
        });
        let run = drain(&lab, &daemon, &[], Duration::from_secs(40));
        (run, second.join().unwrap())
    });
    let stderr = String::from_utf8_lossy(&second.stderr);
    println!(
        "second daemon: exit {}, {}",
        exit_code(&second),
        stderr.trim()
    );
    assert_eq!(exit_code(&second), 1, "{stderr}");
    assert!(stderr.contains("another lb daemon"), "{stderr}");
    assert!(daemon.is_running(), "the first daemon keeps running");
    finish(loads, streams);
    let b = daemon.backend_status(TARGET).unwrap();
    assert_eq!(
        (exit_code(&run.wait), b["drain"]["outcome"].as_str()),
        (0, Some("drained")),
        "{b:#}"
    );
    assert_eq!(
        daemon.status().unwrap()["vips"][0]["backends"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
}

#[test]
fn faults_control_a_truncated_state_file_does_not_keep_the_daemon_down() {
    let lab = lab("fc-state");
    let mut daemon = start_daemon(&lab, &spec());
    let web2 = lab.backend(TARGET).unwrap();
    let streams = start_streams(&lab, &daemon);
    let since = now();
    let loads = start_loads(&lab, 6);
    wait_served(&lab, web2, since, 20);
    daemon.stop().expect("daemon stops");
    let state_file = daemon.config().daemon.state_file.clone();
    std::fs::write(&state_file, b"").expect("truncating the state file");
    daemon.restart().expect("daemon restarts");
    let status = daemon
        .wait_ready(Duration::from_secs(20))
        .expect("daemon answers");
    assert_eq!(status["adopted"], true, "{status:#}");
    daemon
        .wait_all_active(Duration::from_secs(20))
        .expect("backends active");
    let dir = Path::new(&state_file).parent().unwrap();
    let aside: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.contains(".corrupt-"))
        .collect();
    println!("restarted over a zero-length state file; moved aside: {aside:?}");
    assert_eq!(aside.len(), 1, "{aside:?}");
    finish(loads, streams);
}
