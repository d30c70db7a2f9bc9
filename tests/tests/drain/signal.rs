//! The shutdown signal: once, from the pid file, after the settle point;
//! once only across a daemon crash in the middle of a drain, and not again
//! for a drain that has ended.

use std::time::Duration;

use lb_lab::{BackendOpts, ConfigSpec, LoadRun, Tool};

use super::{SETTLE_FLOOR_S, SIGNAL_DELAY_S, assert_drained, default_mode, load_spec};
use crate::support::{
    self, TARGET, assert_clean, assert_no_connection_after_drain, drain, exit_code, finish_long,
    lab, now, poll, start_daemon, start_long,
};

/// Default mode (`shutdown_when = "start"`, signal_delay 1 s): the Gunicorn
/// master of web-2 gets SIGTERM once, from its pid file, after the settle
/// floor and within signal_delay, and the drain ends DRAINED.
#[test]
fn drain_sends_sigterm_once_from_the_pid_file_after_the_settle_point() {
    let lab = lab("drn-sig");
    let daemon = start_daemon(&lab, &default_mode());
    let web2 = lab.backend(TARGET).unwrap();
    let pid = web2.master_pid().unwrap();

    // Something in flight on web-2 (so the signal has to wait for the settle
    // point), and light keep-alive load.
    let long = start_long(&lab, &daemon, "/slow?seconds=3", 4, Duration::from_secs(15));
    let since = now();
    let mut spec = load_spec(&lab, Tool::Hey, true, false, 5);
    spec.connections = 2;
    let light = LoadRun::spawn(&lab, spec).unwrap();
    support::wait_load(&lab, since, 20);

    let run = drain(&lab, &daemon, &[], Duration::from_secs(40));
    assert!(
        web2.wait_exit(Duration::from_secs(35)).unwrap(),
        "master still running"
    );
    let b = support::poll_backend(
        &daemon,
        TARGET,
        "the shutdown outcome",
        Duration::from_secs(5),
        |b| b["last_action"]["kind"] == "shutdown",
    );
    let d = &b["drain"];
    let started = d["started_at"].as_f64().unwrap();
    let sigterms = web2.sigterm_events().unwrap();
    println!(
        "drain: initial flows {}, SIGTERM at +{:.3} s (settle floor {SETTLE_FLOOR_S} s, signal_delay {SIGNAL_DELAY_S} s), drained at +{:.3} s; last_action {}",
        d["initial_flows"],
        sigterms.first().map_or(f64::NAN, |t| t - started),
        run.done_at - started,
        b["last_action"]
    );
    assert!(d["initial_flows"].as_u64().unwrap() >= 1, "{b:#}");
    assert_eq!(sigterms.len(), 1, "SIGTERMs received: {sigterms:?}");
    let after = sigterms[0] - started;
    assert!(
        (SETTLE_FLOOR_S..=SIGNAL_DELAY_S + 0.5).contains(&after),
        "SIGTERM at +{after:.3} s"
    );
    assert_eq!(d["signal"], "sent");
    let act = &b["last_action"];
    assert_eq!(act["ok"], true, "{act}");
    let detail = act["detail"].as_str().unwrap();
    let pid_file = web2.pid_file().display().to_string();
    assert!(
        detail.contains(&format!("pid {pid}")) && detail.contains(&pid_file),
        "last_action detail {detail:?} should name pid {pid} and {pid_file}"
    );

    assert!(finish_long(long) >= 1, "no /slow request ran on {TARGET}");
    assert_clean("hey keep-alive GET (c=2)", &light.join().unwrap());
    assert_no_connection_after_drain(&lab, &daemon, web2, &run);

    // Last, so that the checks above run whatever the outcome.
    assert_drained(&run, &b);
}

/// The daemon killed with SIGKILL in the middle of a drain resumes it after a
/// restart (same start, same deadline), finishes it, and the backend gets
/// exactly one SIGTERM, even across a further restart.
#[test]
fn drain_survives_a_daemon_sigkill_and_signals_once() {
    let lab = lab("drn-kill");
    let spec = ConfigSpec {
        backend: BackendOpts {
            shutdown_when: Some("idle".into()),
            ..BackendOpts::default()
        },
        ..ConfigSpec::default()
    };
    let mut daemon = start_daemon(&lab, &spec);
    let web2 = lab.backend(TARGET).unwrap();
    let long = start_long(&lab, &daemon, "/slow?seconds=6", 4, Duration::from_secs(20));

    let out = daemon.lb(&["drain", TARGET]).unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let before = poll("the drain running", Duration::from_secs(5), || {
        let b = daemon.backend_status(TARGET).ok()?;
        (b["state"] == "draining" && b["live_flows"].as_u64()? >= 1).then_some(b)
    });
    let started = before["drain"]["started_at"].as_f64().unwrap();

    daemon.kill9();
    let t_kill = now();
    daemon.restart().unwrap();
    daemon.wait_ready(Duration::from_secs(20)).unwrap();
    let after = daemon.backend_status(TARGET).unwrap();
    println!(
        "killed at +{:.3} s; after the restart (+{:.3} s): state {}, started_at {:+.6} s from before, live {}, signal {}",
        t_kill - started,
        now() - started,
        after["state"],
        after["drain"]["started_at"].as_f64().unwrap() - started,
        after["live_flows"],
        after["drain"]["signal"]
    );
    assert_eq!(after["state"], "draining", "{after:#}");
    assert_eq!(after["drain"]["started_at"].as_f64(), Some(started));
    assert_eq!(after["drain"]["timeout_s"], before["drain"]["timeout_s"]);
    assert_eq!(after["drain"]["signal"], "pending");
    assert!(web2.sigterm_events().unwrap().is_empty());

    let out = daemon
        .lb_timeout(&["drain", TARGET, "--wait"], Duration::from_secs(40))
        .unwrap();
    let done = now();
    assert_eq!(
        exit_code(&out),
        0,
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(finish_long(long) >= 1);
    let last_end = web2
        .access_log()
        .unwrap()
        .iter()
        .filter(|e| e.path == "/slow")
        .filter_map(|e| e.t_end)
        .fold(f64::NEG_INFINITY, f64::max);
    assert!(web2.wait_exit(Duration::from_secs(35)).unwrap());
    let sigterms = web2.sigterm_events().unwrap();
    println!(
        "resumed drain: last /slow on {TARGET} ended +{:.3} s, DRAINED seen +{:.3} s, SIGTERMs {:?} (s from start)",
        last_end - started,
        done - started,
        sigterms.iter().map(|t| t - started).collect::<Vec<_>>()
    );
    assert_eq!(sigterms.len(), 1);
    assert!(sigterms[0] >= last_end);

    // Once more: a restart after the drain ended runs no action again.
    daemon.kill9();
    daemon.restart().unwrap();
    daemon.wait_ready(Duration::from_secs(20)).unwrap();
    poll(
        "a few ticks of the restarted daemon",
        Duration::from_secs(10),
        || (daemon.status().ok()?["uptime_s"].as_f64()? >= 1.0).then_some(()),
    );
    let log = std::fs::read_to_string(daemon.log_path()).unwrap();
    let shutdowns = log
        .lines()
        .filter(|l| l.contains("action") && l.contains("shutdown") && l.contains(TARGET))
        .filter(|l| l.contains("action done") || l.contains("action failed"))
        .count();
    let b = daemon.backend_status(TARGET).unwrap();
    println!(
        "after a second restart: state {}, outcome {}, shutdown actions in the daemon's log: {shutdowns}",
        b["state"], b["drain"]["outcome"]
    );
    assert_eq!(shutdowns, 1, "daemon log:\n{log}");
    assert_eq!(b["state"], "drained");
}

/// `lb drain` on a backend whose drain already ended (DRAINED, its process
/// stopped) is not a new drain: the shutdown action does not run again (a
/// second SIGTERM would go to whatever pid the stale or rewritten pid file
/// names). An idle backend drains within the `lb drain` call itself, so
/// `lb drain web-2` followed by `lb drain web-2 --wait` is exactly this.
#[test]
fn drain_of_a_drained_backend_runs_no_action_again() {
    let lab = lab("drn-twice");
    let daemon = start_daemon(&lab, &default_mode());
    let web2 = lab.backend(TARGET).unwrap();

    let first = daemon.lb(&["drain", TARGET, "--wait"]).unwrap();
    assert_eq!(
        exit_code(&first),
        0,
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert!(web2.wait_exit(Duration::from_secs(35)).unwrap());
    let b1 = support::poll_backend(
        &daemon,
        TARGET,
        "the shutdown outcome",
        Duration::from_secs(5),
        |b| b["last_action"]["kind"] == "shutdown",
    );

    let second = daemon.lb(&["drain", TARGET, "--wait"]).unwrap();
    // A second action, if any, runs within the call; allow 2 s for its
    // outcome to be recorded (its absence can only be seen by waiting).
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    let b2 = loop {
        let b = daemon.backend_status(TARGET).unwrap();
        if b["last_action"] != b1["last_action"] || std::time::Instant::now() >= deadline {
            break b;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    println!(
        "first drain: started_at {}, signal {}, last_action {}\nsecond `lb drain --wait`: exit {}, started_at {}, signal {}, last_action {}",
        b1["drain"]["started_at"],
        b1["drain"]["signal"],
        b1["last_action"],
        exit_code(&second),
        b2["drain"]["started_at"],
        b2["drain"]["signal"],
        b2["last_action"]
    );
    assert_eq!(web2.sigterm_events().unwrap().len(), 1);
    assert_eq!(
        b2["last_action"], b1["last_action"],
        "the shutdown action ran again for an ended drain"
    );
    assert_eq!(b2["drain"]["started_at"], b1["drain"]["started_at"]);
    assert_eq!(b2["state"], "drained");
}
