//! The unit as the Debian package installs it, run by a real systemd (PID 1
//! of a throw-away nspawn container booted from this host's tree, see
//! systemd/container.rs) in the LB namespace of a lab the test owns: start
//! (Type=notify), the watchdog, reload (good and bad config), stop leaving
//! the pinned data plane forwarding, a restart adopting it, an upgrade
//! replacing the program on the pinned link, the hardening blocking nothing,
//! `systemd-analyze security`, and `lb teardown`.
//! `cargo xtask test` builds the package and passes its path in LB_DEB.
//! Run: cargo xtask test -- systemd

#[path = "systemd/container.rs"]
mod container;

use std::{fs, path::PathBuf, time::Duration};

use container::Container;
use lb_lab::{BackendOpts, ConfigSpec, Lab, LabSpec, LbConfig, Request, client};
use lb_tests::lab_support::{backends, poll};
use serde_json::Value;

const UNIT: &str = "lb.service";
/// The exposure score (0 best, 10 worst) the unit must stay at or under
/// (the same bound as package.rs's offline check).
const MAX_EXPOSURE: f64 = 2.5;
/// What the daemon logs when the hardening refuses it something.
const REFUSED: [&str; 6] = [
    "Operation not permitted",
    "Permission denied",
    "EPERM",
    "EACCES",
    "seccomp",
    "Bad system call",
];

fn deb() -> PathBuf {
    let deb = std::env::var_os("LB_DEB")
        .map(PathBuf::from)
        .expect("LB_DEB is not set: run these through `cargo xtask test -- systemd`");
    assert!(deb.is_file(), "no package at {}", deb.display());
    deb
}

/// `lb` built with the `test-upgrade` feature (another XDP program, the same
/// maps), which `cargo xtask test` builds as target/debug/lb-upgrade.
fn upgrade_binary() -> PathBuf {
    let lb = lb_lab::paths::lb_binary("debug").with_file_name("lb-upgrade");
    assert!(
        lb.is_file(),
        "{} missing: run `cargo xtask test -- systemd`",
        lb.display()
    );
    lb
}

/// The lab's config with the unit's paths, only the backends in `names`,
/// and no shutdown action (a backend's Gunicorn is not in the container's
/// PID namespace).
fn config(lab: &Lab, names: &[&str]) -> String {
    let spec = ConfigSpec {
        backend: BackendOpts {
            shutdown: false,
            ..BackendOpts::default()
        },
        ..ConfigSpec::default()
    };
    let mut c = LbConfig::render(lab, &spec);
    c.daemon.socket = "/run/lb/lb.sock".into();
    c.daemon.pin_root = "/sys/fs/bpf/lb".into();
    c.daemon.state_file = "/var/lib/lb/state.json".into();
    c.vip[0]
        .backend
        .retain(|b| names.contains(&b.name.as_str()));
    c.to_toml().unwrap()
}

fn status(c: &Container) -> Value {
    serde_json::from_str(&c.ok(&["lb", "status", "--json"])).expect("lb status --json")
}

fn backend_names(status: &Value) -> Vec<String> {
    backends(status).into_keys().collect()
}

/// Polls `lb status` until every backend is active and healthy, at most 20 s.
fn wait_healthy(c: &Container) -> Value {
    poll(
        "every backend active and healthy",
        Duration::from_secs(20),
        || {
            let s = status(c);
            backends(&s)
                .values()
                .all(|b| b["state"] == "active" && b["health"] == "healthy")
                .then_some(s)
        },
    )
}

/// `n` requests to the VIP from the client namespace; how many got a 2xx.
fn served(lab: &Lab, n: usize) -> usize {
    (0..n)
        .filter(|_| {
            let req = Request::get(lab.vip_url("/")).timeout(Duration::from_secs(5));
            client::send(lab.client_ns(), &req).is_ok_and(|r| r.ok())
        })
        .count()
}

fn xdp_attached(lab: &Lab) -> bool {
    let link = lab
        .lb_ns()
        .ip(&["-d", "link", "show", "dev", lab.lb_iface()])
        .unwrap();
    link.contains("prog/xdp")
}

fn monotonic(c: &Container, key: &str) -> u64 {
    let v = c.property(UNIT, key);
    v.parse().unwrap_or_else(|_| panic!("{key}={v}"))
}

#[test]
fn systemd_runs_the_packaged_unit_in_a_lab() {
    assert!(lb_lab::is_root(), "needs root (namespaces, nspawn, XDP)");
    let deb = deb();
    let lab = Lab::up(LabSpec {
        prefix: "sd".into(),
        backends: 3,
        ipv6: false,
    })
    .expect("lab up");
    let c = Container::boot("lb-sd", &lab.lb_ns().path());
    let pins = c.bpffs().join("lb").join(lab.lb_iface());

    // Install the package as an admin would, and write the config over the
    // conffile: it keeps the mode postinst gave it.
    fs::copy(&deb, c.root().join("var/tmp/lb.deb")).unwrap();
    c.ok(&["dpkg", "-i", "/var/tmp/lb.deb"]);
    let conf = c.root().join("etc/lb/lb.toml");
    fs::write(&conf, config(&lab, &["web-1", "web-2"])).unwrap();
    let mode = c.ok(&["stat", "-c", "%U:%G %a", "/etc/lb/lb.toml"]);
    assert_eq!(mode.trim(), "root:lb 640");
    assert_eq!(c.property(UNIT, "Type"), "notify");

    // Type=notify: `systemctl start` returns once the daemon sent READY=1,
    // which it does after attaching XDP and binding its socket. So at this
    // instant, with no polling, both must hold.
    c.ok(&["systemctl", "start", UNIT]);
    let first = status(&c);
    assert!(xdp_attached(&lab), "active before XDP was attached");
    assert_eq!(
        (
            c.property(UNIT, "ActiveState"),
            c.property(UNIT, "SubState")
        ),
        ("active".into(), "running".into())
    );
    assert_eq!(first["program_at_start"], "loaded", "{first:#}");
    assert_eq!(backend_names(&first), ["web-1", "web-2"]);

    // The daemon runs as `lb` with the unit's four capabilities, no new
    // privileges, under a seccomp filter.
    let pid = c.property(UNIT, "MainPID");
    let proc_status = c.ok(&["cat", &format!("/proc/{pid}/status")]);
    let lb_uid = c.ok(&["id", "-u", "lb"]).trim().to_owned();
    let field = |name: &str| {
        proc_status
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name}:")))
            .unwrap_or_else(|| panic!("no {name} in {proc_status}"))
            .trim()
            .to_owned()
    };
    println!("daemon pid {pid} in the container:\n{proc_status}");
    assert_eq!(
        field("Uid"),
        format!("{lb_uid}\t{lb_uid}\t{lb_uid}\t{lb_uid}")
    );
    // bpf 39, perfmon 38, net_admin 12, kill 5.
    let caps = (1u64 << 39) | (1 << 38) | (1 << 12) | (1 << 5);
    assert_eq!(u64::from_str_radix(&field("CapEff"), 16).unwrap(), caps);
    assert_eq!(u64::from_str_radix(&field("CapBnd"), 16).unwrap(), caps);
    assert_eq!(field("NoNewPrivs"), "1");
    assert_eq!(field("Seccomp"), "2");

    // The watchdog: systemd hears a new WATCHDOG=1 (every WatchdogSec/2).
    assert_eq!(c.property(UNIT, "WatchdogUSec"), "10s");
    let fed = monotonic(&c, "WatchdogTimestampMonotonic");
    poll(
        "a WATCHDOG=1 from the daemon",
        Duration::from_secs(15),
        || (monotonic(&c, "WatchdogTimestampMonotonic") > fed).then_some(()),
    );
    wait_healthy(&c);
    let before = served(&lab, 10);
    assert_eq!(before, 10, "requests to the VIP while the service runs");

    // Reload (ExecReload=lb reload): a good config is applied in place...
    fs::write(&conf, config(&lab, &["web-1", "web-2", "web-3"])).unwrap();
    c.ok(&["systemctl", "reload", UNIT]);
    assert_eq!(backend_names(&status(&c)), ["web-1", "web-2", "web-3"]);
    assert_eq!(
        c.property(UNIT, "MainPID"),
        pid,
        "reload restarted the daemon"
    );
    wait_healthy(&c);
    // ...a bad one fails the reload and changes nothing.
    fs::write(&conf, "[daemon]\ninterface = 7\n").unwrap();
    let bad = c.exec(&["systemctl", "reload", UNIT]);
    assert!(!bad.status.success(), "systemctl reload took a bad config");
    assert_eq!(c.property(UNIT, "ActiveState"), "active");
    assert_eq!(c.property(UNIT, "MainPID"), pid);
    assert_eq!(backend_names(&status(&c)), ["web-1", "web-2", "web-3"]);
    fs::write(&conf, config(&lab, &["web-1", "web-2", "web-3"])).unwrap();

    // Stop: the daemon goes, the pinned data plane stays and forwards
    // (docs/operations.md).
    c.ok(&["systemctl", "stop", UNIT]);
    assert_eq!(c.property(UNIT, "ActiveState"), "inactive");
    assert_eq!(c.property(UNIT, "Result"), "success");
    let pinned = fs::read_dir(&pins).map_or(0, std::iter::Iterator::count);
    assert!(pinned > 0, "no pins left at {} after stop", pins.display());
    assert!(xdp_attached(&lab), "stop detached the XDP program");
    let stopped = served(&lab, 10);
    println!("after systemctl stop: {pinned} pins, {stopped} of 10 requests served");
    assert_eq!(stopped, 10, "requests to the VIP with the daemon stopped");

    // Start again: the new daemon adopts the pinned program.
    c.ok(&["systemctl", "start", UNIT]);
    let again = status(&c);
    assert_eq!(again["program_at_start"], "kept", "{again:#}");
    assert_eq!(again["program_tag"], first["program_tag"]);

    // An upgrade as dpkg does it (the binary replaced, then a restart) to one
    // whose XDP program differs: replaced on the pinned link, with only the
    // unit's four capabilities, and the VIP still served.
    let new = c.root().join("usr/bin/lb.dpkg-new");
    fs::copy(upgrade_binary(), &new).unwrap();
    fs::rename(&new, c.root().join("usr/bin/lb")).unwrap();
    c.ok(&["systemctl", "restart", UNIT]);
    let upgraded = status(&c);
    assert_eq!(upgraded["program_at_start"], "replaced", "{upgraded:#}");
    assert_eq!(upgraded["previous_program_tag"], first["program_tag"]);
    wait_healthy(&c);
    assert_eq!(
        served(&lab, 10),
        10,
        "requests to the VIP after the upgrade"
    );

    let sec = c.ok(&["systemd-analyze", "security", "--no-pager", UNIT]);
    let overall = sec
        .lines()
        .find_map(|l| l.split_once("Overall exposure level for lb.service:"))
        .map_or_else(
            || panic!("no overall exposure in:\n{sec}"),
            |(_, v)| v.trim().to_owned(),
        );
    let exposure: f64 = overall.split_whitespace().next().unwrap().parse().unwrap();
    println!("systemd-analyze security lb.service (live, systemd 252): {overall}");
    assert!(exposure <= MAX_EXPOSURE, "{sec}");

    // `lb teardown` removes the data plane; the daemon then exits cleanly,
    // so Restart=on-failure does not bring it back.
    c.ok(&["lb", "teardown"]);
    poll(
        "lb.service inactive after teardown",
        Duration::from_secs(20),
        || (c.property(UNIT, "ActiveState") == "inactive").then_some(()),
    );
    assert_eq!(c.property(UNIT, "Result"), "success");
    assert!(!pins.exists(), "teardown left {}", pins.display());
    assert!(!xdp_attached(&lab), "teardown left XDP attached");

    // Nothing the daemon needs was refused, and nothing restarted it.
    let journal = c.ok(&["journalctl", "-u", UNIT, "-o", "cat", "--no-pager"]);
    println!("journal of lb.service:\n{journal}");
    assert!(
        journal.contains("lb.toml:2"),
        "the bad reload's error is not in the journal"
    );
    for word in REFUSED {
        assert!(!journal.contains(word), "the journal says {word:?}");
    }
    assert_eq!(c.property(UNIT, "NRestarts"), "0");

    drop(c);
    let tag = lab.tag().to_owned();
    lab.down().expect("lab teardown");
    let left: Vec<String> = lb_lab::netns::list()
        .unwrap()
        .into_iter()
        .filter(|n| n.starts_with(&format!("{tag}-")))
        .collect();
    assert!(left.is_empty(), "namespaces left behind: {left:?}");
}
