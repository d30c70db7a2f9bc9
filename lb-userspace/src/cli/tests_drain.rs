//! `lb drain`: waiting, its exit codes, timeouts and the progress shown.

use super::*;

#[test]
fn drain_wait_exits_0_when_drained() {
    let lb = TestDaemon::start("cli-drained");
    let ran = run_on(&lb.socket, &["drain", "web-1", "--wait", "--json"]);
    assert_eq!(ran.exit, Exit::Ok, "{}", ran.err);
    let backend: BackendStatus = ran.json();
    assert_eq!(backend.drain.unwrap().outcome, Some(DrainOutcome::Drained));
    assert!(
        ran.err.contains("draining web-1: live 0 → 0"),
        "{}",
        ran.err
    );

    // The human line says how it ended.
    let lb = TestDaemon::start("cli-drained-text");
    let ran = run_on(&lb.socket, &["drain", "web-1", "--wait", "--no-signal"]);
    assert_eq!(ran.exit, Exit::Ok, "{}", ran.err);
    assert!(
        ran.out
            .starts_with("web-1: drained, unchecked, 0 live flows; drain: drained after"),
        "{}",
        ran.out
    );
}

#[test]
fn drain_wait_exits_1_when_forced() {
    let lb = TestDaemon::start("cli-forced");
    let ran = run_on(&lb.socket, &["drain", "web-2", "--wait", "--timeout", "1s"]);
    assert_eq!(ran.exit, Exit::Failed, "{}", ran.err);
    // How long the drain ran before it was forced depends on the machine's
    // load (the 100 ms tick may be late); it is never less than the timeout.
    let after = ran
        .out
        .split_once("forced after ")
        .and_then(|(_, rest)| rest.split_once("s: 1 of 1 flows still live"))
        .and_then(|(secs, _)| secs.parse::<f64>().ok());
    assert!(matches!(after, Some(s) if s >= 1.0), "{}", ran.out);
}

#[test]
fn huge_or_bad_timeouts_are_usage_errors() {
    for bad in ["18446744073709551615s", "721h", "-1s", "1e9s"] {
        assert_eq!(
            usage_error(&["lb", "drain", "web-3", "--no-signal", "--timeout", bad]),
            2,
            "{bad}"
        );
    }
}

#[test]
// A drain's `started_at` is its identity, copied not computed: exact on purpose.
#[allow(clippy::float_cmp)]
fn drain_without_wait_returns_at_once() {
    let lb = TestDaemon::start("cli-drain");
    let ran = run_on(&lb.socket, &["drain", "web-2", "--json"]);
    assert_eq!(ran.exit, Exit::Ok, "{}", ran.err);
    let backend: BackendStatus = ran.json();
    assert_eq!(backend.state, "draining");
    // The same drain again is no error and changes nothing.
    let ran = run_on(&lb.socket, &["drain", "web-2", "--json"]);
    assert_eq!(ran.exit, Exit::Ok, "{}", ran.err);
    let again: BackendStatus = ran.json();
    assert_eq!(
        again.drain.unwrap().started_at,
        backend.drain.unwrap().started_at
    );
    // A disabled backend cannot drain: exit 1 with the daemon's message.
    run_on(&lb.socket, &["disable", "web-1"]);
    let ran = run_on(&lb.socket, &["drain", "web-1"]);
    assert_eq!(ran.exit, Exit::Failed);
    assert!(ran.err.starts_with("lb: web-1 is disabled"), "{}", ran.err);
}

#[test]
fn a_draining_backend_shows_its_progress_and_last_action() {
    let mut b = backend("web-2", "2001:db8::12", 14);
    b.state = "draining".into();
    b.drain = Some(DrainStatus {
        started_at: 0.0,
        elapsed_s: 12.3,
        timeout_s: 30.0,
        initial_flows: 120,
        live_flows: 14,
        signal: SignalState::Sent,
        outcome: None,
        forced_flows: 0,
        finished_at: None,
        flows_at_exit: 0,
        fleet: None,
    });
    b.last_action = Some(ActionOutcome {
        kind: ActionKind::Shutdown,
        at: 0.0,
        ok: true,
        detail: "SIGTERM to pid 4242 (from /run/web-2.pid)".into(),
    });
    let mut down = backend("web-3", "203.0.113.13", 0);
    (down.state, down.admin) = ("down".into(), "disabled".into());
    down.problem = Some("MAC of 203.0.113.13 unresolved".into());
    let text = crate::cli::show::status(&sample_status(vec![b, down]));
    let rows: Vec<&str> = text.lines().skip(5).collect();
    assert_eq!(
        rows,
        [
            "  NAME   STATE     HEALTH   LIVE  PKT/S  NEW/S  ADDRESS",
            "  web-2  draining  healthy    14   1.2k      3  2001:db8::12",
            "         drain: 120 → 14 live, 12s of 30s, signal sent",
            "         shutdown ok: SIGTERM to pid 4242 (from /run/web-2.pid)",
            "  web-3  disabled  healthy     0   1.2k      3  203.0.113.13",
            "         problem: MAC of 203.0.113.13 unresolved",
        ]
    );
}

#[test]
fn drain_wait_with_a_progress_bar() {
    // The bar draws on the real stderr (hidden when it is not a terminal);
    // this checks the terminal path ends the same way.
    let lb = TestDaemon::start("cli-bar");
    let argv = [
        "lb",
        "--socket",
        lb.socket.to_str().unwrap(),
        "drain",
        "web-1",
        "--wait",
    ];
    let cli = Cli::try_parse_from(argv).unwrap();
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let mut term = Term {
        out: &mut out,
        err: &mut err,
        err_tty: true,
    };
    assert_eq!(run_with(cli, no_daemon, &mut term), Exit::Ok);
    assert!(err.is_empty(), "{}", String::from_utf8_lossy(&err));
    assert!(
        String::from_utf8(out)
            .unwrap()
            .starts_with("web-1: drained")
    );
}
