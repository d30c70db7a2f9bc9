//! Running lb like a system service (root only): `lb check` on this host,
//! and the daemon as an unprivileged user with exactly the four capabilities
//! the systemd unit grants, passing a drain under load.
//! Run: cargo xtask test -- service

#[allow(dead_code)]
#[path = "drain/support.rs"]
mod support;

use std::{
    os::unix::fs::PermissionsExt as _,
    path::{Path, PathBuf},
    process::{Command, Output},
    time::Duration,
};

use lb_lab::{BackendOpts, ConfigSpec, Daemon, LbConfig, LoadRun, LoadSpec, RunAs, Tool};
use support::{TARGET, assert_clean, drain, lab, lb_binary, wait_served};

/// What the unit's AmbientCapabilities/CapabilityBoundingSet grant (dist/lb.service).
const UNIT_CAPS: [&str; 4] = ["bpf", "net_admin", "perfmon", "kill"];
/// `nobody`: no files of its own, no groups.
const NOBODY: u32 = 65534;

/// A root-owned scratch directory with `lb.toml`, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str, config: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("lb-svc-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::write(dir.join("lb.toml"), config).unwrap();
        std::fs::set_permissions(dir.join("lb.toml"), std::fs::Permissions::from_mode(0o644))
            .unwrap();
        Self(dir)
    }
    fn config(&self) -> PathBuf {
        self.0.join("lb.toml")
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `lb ARGS` with `env`, in a fresh network namespace holding only `lo`, up
/// (unshare: it goes when the command exits; the bpffs stays the host's).
fn lb_alone(args: &[&str], env: &[(&str, &Path)]) -> Output {
    Command::new("unshare")
        .args([
            "--net",
            "--",
            "sh",
            "-c",
            "ip link set lo up && exec \"$0\" \"$@\"",
        ])
        .arg(lb_binary())
        .args(args)
        .env_remove("LB_CONFIG")
        .envs(env.iter().copied())
        .output()
        .expect("unshare runs")
}

#[test]
fn service_check_accepts_a_good_config_and_touches_nothing() {
    let pin_root = format!("/sys/fs/bpf/lb-svc-check-{}", std::process::id());
    let s = Scratch::new(
        "check",
        &format!(
            "[daemon]\ninterface = \"lo\"\npin_root = \"{pin_root}\"\n\
             socket = \"/tmp/lb-svc-nosock-{}/lb.sock\"\nmetrics = \"127.0.0.1:9464\"\n",
            std::process::id()
        ),
    );
    let config = s.config();
    let out = lb_alone(&["check", "--config", config.to_str().unwrap()], &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        stdout,
        format!(
            "ok: {}: interface lo, 0 VIPs, 0 backends, metrics on 127.0.0.1:9464\n",
            config.display()
        )
    );
    // Nothing was created: no pin directory, no socket directory.
    assert!(
        !Path::new(&pin_root).exists(),
        "lb check created {pin_root}"
    );
    assert!(!Path::new(&format!("/tmp/lb-svc-nosock-{}", std::process::id())).exists());

    // LB_CONFIG stands in for --config.
    let out = lb_alone(&["check"], &[("LB_CONFIG", &config)]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // A pin_root off bpffs, then an interface the namespace lacks: exit 2 with file:line:key.
    let s = Scratch::new(
        "check-bad",
        "[daemon]\ninterface = \"lo\"\npin_root = \"/tmp/pins\"\n",
    );
    let out = lb_alone(&["check"], &[("LB_CONFIG", &s.config())]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    let expected = format!(
        "lb: config error: {}:3: key `daemon.pin_root`",
        s.config().display()
    );
    assert!(err.starts_with(&expected), "{err}");
}

/// The daemon as `nobody` with CAP_BPF, CAP_NET_ADMIN, CAP_PERFMON and
/// CAP_KILL only (no CAP_SYS_ADMIN) loads, attaches, pins, health-checks, and
/// drains web-2 under keep-alive GET, fresh-connection GET and POST load with
/// no failed request, its SIGTERM reaching web-2's root-owned Gunicorn.
#[test]
fn service_least_privilege_daemon_drains_under_load() {
    let lab = lab("svc-priv");
    let spec = ConfigSpec {
        backend: BackendOpts {
            drain_timeout: Some(Duration::from_secs(15)),
            ..BackendOpts::default()
        },
        ..ConfigSpec::default()
    };
    let mut config = LbConfig::render(&lab, &spec);
    let run = lab.dir().join("run");
    config.daemon.socket = run.join("lb.sock").display().to_string();
    config.daemon.state_file = run.join("state.json").display().to_string();
    let user = RunAs {
        uid: NOBODY,
        gid: NOBODY,
        caps: UNIT_CAPS.map(String::from).to_vec(),
    };
    lb_tests::lab_support::hand_lock_file_to(&config, NOBODY);
    let daemon = Daemon::start_as(&lab, &lb_binary(), config, Some(&user)).expect("daemon starts");
    daemon
        .wait_ready(Duration::from_secs(20))
        .expect("daemon answers");
    daemon
        .wait_all_active(Duration::from_secs(20))
        .expect("backends active");
    let caps = process_caps(daemon.pid().expect("running"));
    println!("daemon as uid {NOBODY}: {caps}");
    assert!(
        caps.contains(&format!("Uid:\t{NOBODY}\t{NOBODY}\t{NOBODY}\t{NOBODY}")),
        "{caps}"
    );
    // bpf 39, net_admin 12, perfmon 38, kill 5.
    let expected = (1u64 << 39) | (1 << 12) | (1 << 38) | (1 << 5);
    for field in ["CapEff", "CapPrm", "CapBnd", "CapAmb"] {
        assert_eq!(cap_field(&caps, field), expected, "{field}: {caps}");
    }

    let web2 = lab.backend(TARGET).unwrap();
    let since = support::now();
    let load = |keepalive: bool, post: bool| {
        let mut s = LoadSpec::new(Tool::Hey, lab.vip_url("/"));
        s.connections = 4;
        s.threads = 2;
        s.duration = Duration::from_secs(8);
        s.keepalive = keepalive;
        s.post_body = post.then_some(1000);
        s
    };
    let loads = [
        ("hey keep-alive GET (c=4)", load(true, false)),
        ("hey fresh-connection GET (c=4)", load(false, false)),
        ("hey fresh-connection POST 1000 B (c=4)", load(false, true)),
    ]
    .map(|(label, spec)| (label, LoadRun::spawn(&lab, spec).unwrap()));
    wait_served(&lab, web2, since, 30);

    let run = drain(&lab, &daemon, &[], Duration::from_secs(40));
    for (label, l) in loads {
        assert_clean(label, &l.join().unwrap());
    }
    assert_eq!(
        web2.sigterm_events().unwrap().len(),
        1,
        "the unprivileged daemon's SIGTERM (CAP_KILL) did not reach web-2's Gunicorn"
    );
    let b = daemon.backend_status(TARGET).unwrap();
    assert_eq!(b["last_action"]["ok"], true, "{b:#}");
    assert_eq!(
        (
            support::exit_code(&run.wait),
            b["drain"]["outcome"].as_str()
        ),
        (0, Some("drained")),
        "{b:#}\n{}",
        daemon.log_tail(30)
    );
}

fn process_caps(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .expect("the daemon's /proc status")
        .lines()
        .filter(|l| l.starts_with("Cap") || l.starts_with("Uid:"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn cap_field(status: &str, field: &str) -> u64 {
    let line = status
        .lines()
        .find(|l| l.starts_with(&format!("{field}:")))
        .unwrap_or_else(|| panic!("no {field} in {status}"));
    u64::from_str_radix(line.split_whitespace().nth(1).unwrap(), 16).unwrap()
}

/// dist/prepare-pins, the unit's only root step, hands a pin directory (and
/// what an older root-run daemon left in it) to the daemon's user, 0700.
#[test]
fn service_prepare_pins_hands_the_pin_root_to_the_user() {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../dist/prepare-pins");
    let pin_root = PathBuf::from(format!("/sys/fs/bpf/lb-svc-prep-{}", std::process::id()));
    std::fs::create_dir_all(pin_root.join("eth0")).unwrap();
    let out = Command::new(script)
        .arg(&pin_root)
        .env("LB_USER", "nobody")
        .output()
        .unwrap();
    let owned = |p: &Path| {
        use std::os::unix::fs::MetadataExt as _;
        let m = std::fs::metadata(p).unwrap();
        (m.uid(), m.mode() & 0o7777)
    };
    let (root, old) = (owned(&pin_root), owned(&pin_root.join("eth0")));
    let bpffs = owned(Path::new("/sys/fs/bpf"));
    std::fs::remove_dir_all(&pin_root).unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(root, (NOBODY, 0o700));
    assert_eq!(old.0, NOBODY, "the old daemon's directory was handed over");
    assert_eq!(bpffs.1 & 0o001, 0o001, "others can traverse /sys/fs/bpf");
}
