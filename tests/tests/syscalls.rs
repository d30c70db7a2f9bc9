//! The unit's SystemCallFilter against what the daemon really calls: the
//! daemon runs under strace (as the unit's user, with its capabilities)
//! through start, a health check, a reload, a drain with a signal action,
//! flows and a scrape; every system call it made must be one the filter of
//! dist/lb.service allows, expanded by this machine's systemd-analyze.
//! (PID 1 is not systemd here, so the filter itself cannot be applied.)
//! Run: cargo xtask test -- service_syscalls

use std::{collections::BTreeSet, process::Command, time::Duration};

use lb_lab::{ConfigSpec, Daemon, LabSpec, LbConfig, RunAs};
use lb_tests::lab_support::lb_binary;

/// The syscalls a `@group` (or a plain name) stands for, recursively.
fn expand(item: &str, out: &mut BTreeSet<String>) {
    if !item.starts_with('@') {
        out.insert(item.to_owned());
        return;
    }
    let listing = Command::new("systemd-analyze")
        .args(["syscall-filter", "--no-pager", item])
        .output()
        .expect("systemd-analyze");
    let text = String::from_utf8_lossy(&listing.stdout).into_owned();
    for word in text.lines().skip(1).map(str::trim) {
        if word.is_empty() || word.starts_with('#') {
            continue;
        }
        expand(word, out);
    }
}

/// What the unit's SystemCallFilter= lines allow: the first (not inverted)
/// is the allow list, `~` lines remove from it, others add (systemd.exec(5)).
fn allowed_by_unit(unit: &str) -> BTreeSet<String> {
    let mut allowed = BTreeSet::new();
    for line in unit
        .lines()
        .filter_map(|l| l.strip_prefix("SystemCallFilter="))
    {
        let (remove, items) = match line.strip_prefix('~') {
            Some(rest) => (true, rest),
            None => (false, line),
        };
        let mut set = BTreeSet::new();
        for item in items.split_whitespace() {
            expand(item.split(':').next().unwrap(), &mut set);
        }
        if remove {
            allowed.retain(|s| !set.contains(s));
        } else {
            allowed.extend(set);
        }
    }
    allowed
}

#[test]
fn service_syscalls_fit_the_unit_filter() {
    let unit = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../dist/lb.service"))
        .unwrap();
    let allowed = allowed_by_unit(&unit);
    assert!(allowed.contains("bpf") && allowed.contains("read") && !allowed.contains("mount"));

    let lab = lb_lab::Lab::up(LabSpec {
        prefix: "svc-sys".into(),
        backends: 2,
        ipv6: false,
    })
    .expect("lab up");
    let spec = ConfigSpec {
        metrics: Some("127.0.0.1:9464".parse().unwrap()),
        ..ConfigSpec::default()
    };
    let mut config = LbConfig::render(&lab, &spec);
    let run = lab.dir().join("run");
    config.daemon.socket = run.join("lb.sock").display().to_string();
    config.daemon.state_file = run.join("state.json").display().to_string();
    let trace = lab.dir().join("strace.out");
    let user = RunAs {
        uid: 65534,
        gid: 65534,
        caps: ["bpf", "net_admin", "perfmon", "kill"]
            .map(String::from)
            .to_vec(),
    };
    lb_tests::lab_support::hand_lock_file_to(&config, 65534);
    let wrapper = ["strace", "-f", "-qq", "-o", trace.to_str().unwrap()];
    let mut daemon = Daemon::start_wrapped(&lab, &lb_binary(), config, Some(&user), &wrapper)
        .expect("daemon starts");
    daemon
        .wait_ready(Duration::from_secs(30))
        .expect("daemon answers");
    daemon
        .wait_all_active(Duration::from_secs(30))
        .expect("backends active");
    for args in [
        &["reload"][..],
        &["drain", "web-2", "--wait"],
        &["flows"],
        &["status"],
    ] {
        let out = daemon.lb(args).unwrap();
        assert!(
            out.status.success(),
            "lb {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert!(daemon.metrics().unwrap().contains("lb_up 1"));
    // strace would swallow a SIGTERM: `lb teardown` stops the daemon (and
    // strace with it), its calls in the trace too.
    let out = daemon.lb(&["teardown"]).unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    lb_tests::lab_support::poll("the daemon to exit", Duration::from_secs(10), || {
        (!daemon.is_running()).then_some(())
    });
    daemon.stop().expect("stopped");

    let text = std::fs::read_to_string(&trace).unwrap();
    // Lines look like `1234  openat(AT_FDCWD, ...) = 3`; only the daemon's
    // own calls count, after setpriv's exec of lb.
    let after_exec = text
        .lines()
        .skip_while(|l| {
            let program = l
                .split("execve(\"")
                .nth(1)
                .and_then(|r| r.split('"').next());
            !program.is_some_and(|p| p.ends_with("/lb"))
        })
        .collect::<Vec<_>>();
    assert!(!after_exec.is_empty(), "no exec of lb in the trace");
    let used: BTreeSet<String> = after_exec
        .iter()
        .filter_map(|l| {
            let call = l.split_whitespace().nth(1)?;
            let name = call.split('(').next()?;
            (call.contains('(')
                && name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'))
            .then(|| name.to_owned())
        })
        .collect();
    println!(
        "the daemon made {} distinct system calls: {used:?}",
        used.len()
    );
    let refused: Vec<&String> = used.iter().filter(|s| !allowed.contains(*s)).collect();
    assert!(used.contains("bpf") && used.len() > 20, "{used:?}");
    assert!(
        refused.is_empty(),
        "the unit's SystemCallFilter refuses {refused:?}"
    );
}
