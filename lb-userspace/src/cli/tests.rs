//! The CLI against the real daemon core (without a data plane): exit codes,
//! messages, and `--json` output that parses back into the API's types.

use std::path::{Path, PathBuf};

use clap::{CommandFactory, Parser};
use serde::de::DeserializeOwned;

use super::{Cli, Exit, Term, run_with};
use crate::api::{
    test_daemon::{TestDaemon, temp_socket},
    test_samples::{backend, sample_status},
    types::*,
};

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
    let lb = TestDaemon::start("cli-status");
    let ran = run_on(&lb.socket, &["status"]);
    assert_eq!(ran.exit, Exit::Ok, "{}", ran.err);
    let lines: Vec<&str> = ran.out.lines().collect();
    assert!(
        lines[0].starts_with("lb 0.1.0 on eth0 (native XDP), up "),
        "{}",
        lines[0]
    );
    assert_eq!(
        lines[1], "no program (torn down); passed 0 packets to the kernel (0 malformed)",
        "{}",
        ran.out
    );
    assert_eq!(
        lines[3], "web  198.51.100.10:80/tcp  dsr  0 pkt/s  0 new/s",
        "{}",
        ran.out
    );
    assert_eq!(
        lines[4],
        "  NAME   STATE   HEALTH     LIVE  PKT/S  NEW/S  ADDRESS"
    );
    assert_eq!(
        lines[5],
        "  web-1  active  unchecked     0      0      0  203.0.113.11"
    );
    assert!(ran.out.lines().all(|l| l.chars().count() <= 100));

    let ran = run_on(&lb.socket, &["status", "--json"]);
    let status: Status = ran.json();
    assert_eq!(status.vips[0].backends[1].name, "web-2");
    assert_eq!(
        (
            status.vips[0].forward.as_str(),
            status.vips[0].backends[1].port
        ),
        ("dsr", 80)
    );
}

#[test]
fn status_shows_a_nat_vip_and_its_backends_ports() {
    // No MAC: a NAT backend is routed by the FIB, so it is active without one.
    let config = crate::api::test_daemon::CONFIG
        .replace(
            "protocol = \"tcp\"\n",
            "protocol = \"tcp\"\nforward = \"nat\"\n",
        )
        .replace("mac = \"02:00:00:00:00:11\"\n", "port = 8000\n")
        .replace("mac = \"02:00:00:00:00:12\"\n", "");
    let lb = TestDaemon::start_with("cli-status-nat", &config);
    let ran = run_on(&lb.socket, &["status"]);
    assert_eq!(ran.exit, Exit::Ok, "{}", ran.err);
    let lines: Vec<&str> = ran.out.lines().collect();
    assert_eq!(
        lines[3], "web  198.51.100.10:80/tcp  nat  0 pkt/s  0 new/s",
        "{}",
        ran.out
    );
    assert_eq!(
        lines[5], "  web-1  active  unchecked     0      0      0  203.0.113.11:8000",
        "{}",
        ran.out
    );
    assert!(lines[6].ends_with("  203.0.113.12:80"), "{}", ran.out);
    let status: Status = run_on(&lb.socket, &["status", "--json"]).json();
    let vip = &status.vips[0];
    assert_eq!(vip.forward, "nat");
    let b = &vip.backends[0];
    assert_eq!(
        (
            b.port,
            b.state.as_str(),
            b.mac.as_deref(),
            b.problem.as_deref()
        ),
        (8000, "active", None, None)
    );
}

#[test]
fn unknown_backend_exits_1_with_a_hint() {
    let lb = TestDaemon::start("cli-unknown");
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
    let lb = TestDaemon::start("cli-json");
    let s = &lb.socket;
    let backend: BackendStatus = run_on(s, &["disable", "web-1", "--json"]).json();
    assert_eq!(backend.admin, "disabled");
    assert!(run_on(s, &["status"]).out.contains("  web-1  disabled"));
    let backend: BackendStatus = run_on(s, &["enable", "web-1", "--json"]).json();
    assert_eq!(backend.state, "active");
    let report: ReloadReport = run_on(s, &["reload", "--json"]).json();
    assert_eq!(report.unchanged.len(), 2);
    let flows: Vec<FlowView> = run_on(s, &["flows", "--backend", "web-2", "--json"]).json();
    assert!(flows.is_empty());
    let report: TeardownReport = run_on(s, &["teardown", "--json"]).json();
    assert!(!report.detached);
}

#[test]
fn other_commands_print_text() {
    let lb = TestDaemon::start("cli-text");
    let s = &lb.socket;
    let out = |args: &[&str]| run_on(s, args).out;
    assert_eq!(
        out(&["reload"]),
        "reloaded: 0 added, 0 removed, 0 changed, 2 unchanged\n"
    );
    assert_eq!(out(&["flows"]), "no flows\n");
    assert_eq!(
        out(&["enable", "web-2"]),
        "web-2: active, unchecked, 0 live flows\n"
    );
    assert_eq!(
        out(&["teardown"]),
        "nothing was attached to eth0; removed 0 pins\n"
    );
}

#[test]
fn reload_of_a_bad_config_exits_2() {
    let lb = TestDaemon::start("cli-reload");
    std::fs::write(&lb.config_path, "[daemon]\ninterface = 7\n").unwrap();
    let ran = run_on(&lb.socket, &["reload"]);
    assert_eq!(ran.exit, Exit::Usage, "{}", ran.err);
    assert!(ran.err.contains("lb.toml:2"), "{}", ran.err);
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

#[path = "tests_check.rs"]
mod check;
#[path = "tests_drain.rs"]
mod drain;
