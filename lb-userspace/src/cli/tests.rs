//! The CLI against the fake daemon: exit codes, messages, and `--json`
//! output that parses back into the API's types.

use std::path::{Path, PathBuf};

use clap::{CommandFactory, Parser};
use serde::de::DeserializeOwned;

use super::{Cli, Exit, Term, run_with};
use crate::api::fake::{FakeDaemon, temp_socket};
use crate::api::types::*;

struct Ran {
    exit: Exit,
    out: String,
    err: String,
}

impl Ran {
    fn json<T: DeserializeOwned>(&self) -> T {
        serde_json::from_str(&self.out).unwrap_or_else(|e| panic!("{e}: {}", self.out))
    }
}

fn no_daemon(_: PathBuf) -> anyhow::Result<()> {
    panic!("not the daemon command")
}

fn run_on(socket: &Path, args: &[&str]) -> Ran {
    let mut argv = vec!["lb", "--socket", socket.to_str().unwrap()];
    argv.extend(args);
    run_args(&argv, no_daemon)
}

fn run_args(argv: &[&str], daemon: impl FnOnce(PathBuf) -> anyhow::Result<()>) -> Ran {
    let cli = Cli::try_parse_from(argv).unwrap_or_else(|e| panic!("{argv:?}: {e}"));
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let mut term = Term {
        out: &mut out,
        err: &mut err,
        err_tty: false,
    };
    let exit = run_with(cli, daemon, &mut term);
    let text = |b: Vec<u8>| String::from_utf8(b).unwrap();
    Ran {
        exit,
        out: text(out),
        err: text(err),
    }
}

fn usage_error(argv: &[&str]) -> i32 {
    Cli::try_parse_from(argv).unwrap_err().exit_code()
}

#[test]
fn the_command_line_is_well_formed() {
    Cli::command().debug_assert();
}

#[test]
fn bad_usage_exits_2() {
    assert_eq!(usage_error(&["lb"]), 2);
    assert_eq!(usage_error(&["lb", "drain"]), 2);
    assert_eq!(usage_error(&["lb", "status", "extra"]), 2);
    assert_eq!(usage_error(&["lb", "drain", "web-1", "--timeout", "45"]), 2);
    assert_eq!(
        usage_error(&["lb", "drain", "web-1", "--timeout", "soon"]),
        2
    );
    assert_eq!(usage_error(&["lb", "completions", "tcsh"]), 2);
    assert_eq!(usage_error(&["lb", "daemon", "--log-format", "xml"]), 2);
    // --socket is global: before or after the command.
    let cli = Cli::try_parse_from(["lb", "status", "--socket", "/x.sock"]).unwrap();
    assert_eq!(cli.socket, Path::new("/x.sock"));
}

#[test]
fn status_prints_a_table_or_json() {
    let lb = FakeDaemon::start("cli-status");
    let ran = run_on(&lb.socket, &["status"]);
    assert_eq!(ran.exit, Exit::Ok, "{}", ran.err);
    let lines: Vec<&str> = ran.out.lines().collect();
    assert_eq!(lines[0], "lb 0.1.0 on eth0 (native XDP), up 13s");
    assert_eq!(
        lines[1],
        "program 0123456789abcdef; passed 99 packets to the kernel (5 malformed)"
    );
    assert_eq!(lines[3], "web  198.51.100.10:80/tcp  0 pkt/s  0 new/s");
    assert_eq!(
        lines[4],
        "  dropped: 1 malformed, 2 fragments, 3 with no backend; repicked: 4"
    );
    assert_eq!(
        lines[5],
        "  NAME   STATE   HEALTH   LIVE  PKT/S  NEW/S  ADDRESS"
    );
    assert_eq!(
        lines[6],
        "  web-1  active  healthy     3   1.2k      3  203.0.113.11"
    );
    assert!(ran.out.lines().all(|l| l.chars().count() <= 100));

    let ran = run_on(&lb.socket, &["status", "--json"]);
    let status: Status = ran.json();
    assert_eq!(status.vips[0].backends[1].name, "web-2");
}

#[test]
fn drain_wait_exits_0_when_drained() {
    let lb = FakeDaemon::start("cli-drained");
    let ran = run_on(&lb.socket, &["drain", "web-1", "--wait", "--json"]);
    assert_eq!(ran.exit, Exit::Ok, "{}", ran.err);
    let backend: BackendStatus = ran.json();
    assert_eq!(backend.drain.unwrap().outcome.as_deref(), Some("drained"));
    assert!(
        ran.err.contains("draining web-1: live 3 → 3"),
        "{}",
        ran.err
    );

    // The human line says how it ended.
    let lb = FakeDaemon::start("cli-drained-text");
    let ran = run_on(&lb.socket, &["drain", "web-1", "--wait", "--no-signal"]);
    assert_eq!(ran.exit, Exit::Ok, "{}", ran.err);
    assert!(
        ran.out
            .starts_with("web-1: drained, healthy, 0 live flows; drain: drained after")
    );
}

#[test]
fn drain_wait_exits_1_when_forced() {
    let lb = FakeDaemon::start("cli-forced");
    let ran = run_on(&lb.socket, &["drain", "web-2", "--wait", "--timeout", "3s"]);
    assert_eq!(ran.exit, Exit::Failed, "{}", ran.err);
    assert!(
        ran.out.contains("forced after 3s: 2 of 2 flows still live"),
        "{}",
        ran.out
    );
}

#[test]
fn drain_without_wait_returns_at_once() {
    let lb = FakeDaemon::start("cli-drain");
    let ran = run_on(&lb.socket, &["drain", "web-1", "--json"]);
    assert_eq!(ran.exit, Exit::Ok, "{}", ran.err);
    let backend: BackendStatus = ran.json();
    assert_eq!(backend.state, "draining");
    // A second drain conflicts: exit 1 with the daemon's message.
    let ran = run_on(&lb.socket, &["drain", "web-1"]);
    assert_eq!(
        (ran.exit, ran.err.as_str()),
        (Exit::Failed, "lb: web-1 is already draining\n")
    );
}

#[test]
fn unknown_backend_exits_1_with_a_hint() {
    let lb = FakeDaemon::start("cli-unknown");
    for command in ["drain", "enable", "disable"] {
        let ran = run_on(&lb.socket, &[command, "x"]);
        assert_eq!(ran.exit, Exit::Failed);
        assert_eq!(
            ran.err,
            "lb: no backend named \"x\"; `lb status` lists them\n"
        );
        assert_eq!(ran.out, "");
    }
}

#[test]
fn no_daemon_exits_1_naming_the_socket() {
    let socket = temp_socket("cli-absent");
    let ran = run_on(&socket, &["status"]);
    assert_eq!(ran.exit, Exit::Failed);
    let expected = format!(
        "lb: cannot reach the lb daemon at {}: no such socket (is `lb daemon` running? use \
         --socket PATH)\n",
        socket.display()
    );
    assert_eq!(ran.err, expected);
}

#[test]
fn other_commands_print_json_that_parses_back() {
    let lb = FakeDaemon::start("cli-json");
    let s = &lb.socket;
    let backend: BackendStatus = run_on(s, &["disable", "web-1", "--json"]).json();
    assert_eq!(backend.admin, "disabled");
    assert!(run_on(s, &["status"]).out.contains("  web-1  disabled"));
    let backend: BackendStatus = run_on(s, &["enable", "web-1", "--json"]).json();
    assert_eq!(backend.state, "active");
    let report: ReloadReport = run_on(s, &["reload", "--json"]).json();
    assert_eq!(report.unchanged.len(), 2);
    let flows: Vec<FlowView> = run_on(s, &["flows", "--backend", "web-2", "--json"]).json();
    assert_eq!(flows.len(), 1);
    let report: TeardownReport = run_on(s, &["teardown", "--json"]).json();
    assert!(report.detached);
}

#[test]
fn other_commands_print_text() {
    let lb = FakeDaemon::start("cli-text");
    let s = &lb.socket;
    let out = |args: &[&str]| run_on(s, args).out;
    assert_eq!(
        out(&["reload"]),
        "reloaded: 0 added, 0 removed, 0 changed, 2 unchanged\n"
    );
    assert_eq!(
        out(&["flows"]),
        "CLIENT           VIP  BACKEND  PROTO  STATE  AGE  IDLE\n\
         192.0.2.7:40000  web  web-1    tcp    live    3s  0.5s\n\
         192.0.2.7:40000  web  web-2    tcp    live    3s  0.5s\n\
         2 flows\n"
    );
    assert_eq!(
        out(&["teardown"]),
        "detached lb from eth0; removed 1 pins\n  /sys/fs/bpf/lb/eth0/FLOWS\n"
    );
    assert_eq!(
        out(&["enable", "web-2"]),
        "web-2: active, healthy, 2 live flows\n"
    );
}

#[test]
fn daemon_exit_codes() {
    let mut seen = None;
    let ran = run_args(&["lb", "daemon", "--config", "/etc/lb.toml"], |p| {
        seen = Some(p);
        Ok(())
    });
    assert_eq!(
        (ran.exit, seen.as_deref()),
        (Exit::Ok, Some(Path::new("/etc/lb.toml")))
    );

    let ran = run_args(&["lb", "daemon", "--config", "x"], |_| {
        anyhow::bail!("cannot attach to eth0")
    });
    assert_eq!(
        (ran.exit, ran.err.as_str()),
        (Exit::Failed, "lb: cannot attach to eth0\n")
    );

    // A config error, even wrapped in context, is exit 2.
    let ran = run_args(&["lb", "daemon", "--config", "x"], |_| {
        let e = crate::config::load(Path::new("/nonexistent/lb.toml")).unwrap_err();
        Err(anyhow::Error::new(e).context("starting the daemon"))
    });
    assert_eq!(ran.exit, Exit::Usage, "{}", ran.err);
    assert!(ran.err.contains("/nonexistent/lb.toml"), "{}", ran.err);
}

#[test]
fn completions_print_a_script() {
    for shell in ["bash", "zsh", "fish"] {
        let ran = run_args(&["lb", "completions", shell], no_daemon);
        assert_eq!(ran.exit, Exit::Ok);
        assert!(ran.out.contains("drain"), "{shell}");
    }
}

#[test]
fn a_draining_backend_shows_its_progress_and_last_action() {
    use crate::api::fake::{backend, sample_status};
    let mut b = backend("web-2", "2001:db8::12", 14);
    b.state = "draining".into();
    b.drain = Some(DrainStatus {
        started_at: 0.0,
        elapsed_s: 12.3,
        timeout_s: 30.0,
        initial_flows: 120,
        live_flows: 14,
        signal: "sent".into(),
        outcome: None,
        forced_flows: 0,
        finished_at: None,
        flows_at_exit: 0,
    });
    b.last_action = Some(ActionOutcome {
        kind: "shutdown".into(),
        at: 0.0,
        ok: true,
        detail: "SIGTERM to pid 4242 (from /run/web-2.pid)".into(),
    });
    let mut down = backend("web-3", "203.0.113.13", 0);
    (down.state, down.admin) = ("down".into(), "disabled".into());
    down.problem = Some("MAC of 203.0.113.13 unresolved".into());
    let text = super::show::status(&sample_status(vec![b, down]));
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
    let lb = FakeDaemon::start("cli-bar");
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

#[path = "tests_check.rs"]
mod check;
