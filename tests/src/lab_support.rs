//! Helpers shared by the tests that run the real `lb` in the lab (daemon,
//! drain and end-to-end tests).

use std::{
    collections::BTreeMap,
    path::PathBuf,
    thread,
    time::{Duration, Instant},
};

use lb_lab::{Daemon, Lab, LoadResult, Request, paths};
use serde_json::Value;

/// The `lb` binary the tests drive (`cargo xtask test` builds it first). Also
/// checks for root: these tests make namespaces and attach XDP.
pub fn lb_binary() -> PathBuf {
    assert!(lb_lab::is_root(), "these tests need root (namespaces, XDP)");
    let lb = paths::lb_binary("debug");
    assert!(
        lb.is_file(),
        "{} missing: cargo build -p lb-userspace --bin lb",
        lb.display()
    );
    lb
}

/// Calls `f` every 20 ms until it returns Some, at most `timeout`.
pub fn poll<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    poll_result(timeout, || f().ok_or(()))
        .unwrap_or_else(|()| panic!("timed out after {timeout:?} waiting for {what}"))
}

/// Calls `f` every 20 ms until it returns Ok, at most `timeout`: that value,
/// or the last error, for a caller whose failure message needs it.
pub fn poll_result<T, E>(timeout: Duration, mut f: impl FnMut() -> Result<T, E>) -> Result<T, E> {
    let deadline = Instant::now() + timeout;
    loop {
        match f() {
            Ok(v) => return Ok(v),
            Err(e) if Instant::now() >= deadline => return Err(e),
            Err(_) => thread::sleep(Duration::from_millis(20)),
        }
    }
}

/// Polls `name`'s status until `pred` holds, at most `timeout`; returns the
/// status that satisfied it, or panics with the last one and the daemon's log.
pub fn wait_backend(
    daemon: &Daemon,
    name: &str,
    timeout: Duration,
    what: &str,
    pred: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + timeout;
    loop {
        let b = daemon.backend_status(name).expect("lb status");
        if pred(&b) {
            return b;
        }
        assert!(
            Instant::now() < deadline,
            "{name} not {what} after {timeout:?}: {b:#}\ndaemon log:\n{}",
            daemon.log_tail(20)
        );
        thread::sleep(Duration::from_millis(20));
    }
}

/// `lb flows [--backend NAME] --json`.
pub fn flows_json(daemon: &Daemon, backend: Option<&str>) -> Vec<Value> {
    let mut args = vec!["flows", "--json"];
    if let Some(b) = backend {
        args.extend(["--backend", b]);
    }
    let out = daemon.lb(&args).expect("lb flows runs");
    assert!(
        out.status.success(),
        "lb flows: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("lb flows --json parses")
}

/// Prints a load run's figures.
pub fn print_load(label: &str, r: &LoadResult) {
    println!(
        "{label}: {} requests, {} non-2xx, {} failed {:?}, {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms over {:.1} s",
        r.requests,
        r.non_2xx,
        r.errors.total(),
        r.errors,
        r.rps(),
        r.latency_p50_ms,
        r.latency_p99_ms,
        r.duration.as_secs_f64()
    );
    for (n, msg) in &r.error_messages {
        println!("    [{n}] {msg}");
    }
}

/// Asserts a load run made requests, none failed and all were 2xx.
pub fn assert_clean(label: &str, r: &LoadResult) {
    assert!(r.requests > 0, "{label}: no requests\n{}", r.raw);
    assert_eq!(
        (r.errors.total(), r.non_2xx),
        (0, 0),
        "{label}: failed or non-2xx requests\n{}",
        r.raw
    );
}

/// Every backend's status entry (`lb status --json`), by name.
pub fn backends(status: &Value) -> std::collections::BTreeMap<String, Value> {
    status["vips"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|v| v["backends"].as_array().into_iter().flatten())
        .map(|b| (b["name"].as_str().unwrap_or("?").to_owned(), b.clone()))
        .collect()
}

/// `counters.new_flows` of every backend.
pub fn new_flows(daemon: &Daemon) -> std::collections::BTreeMap<String, u64> {
    backends(&daemon.status().expect("lb status"))
        .into_iter()
        .map(|(n, b)| (n, b["counters"]["new_flows"].as_u64().unwrap_or(0)))
        .collect()
}

/// Makes the daemon's lock file (one per pin directory, under
/// `/run/lb/locks`) and gives it to `uid`, as the unit's
/// `RuntimeDirectory=lb` gives the service user its own `/run/lb`; other
/// tests' root daemons share `/run/lb/locks` here. `lb teardown` removes it.
pub fn hand_lock_file_to(config: &lb_lab::LbConfig, uid: u32) {
    use lb_userspace::daemon::lock::{LOCK_DIR, lock_path};
    let path = lock_path(
        std::path::Path::new(LOCK_DIR),
        std::path::Path::new(&config.daemon.pin_root),
        &config.daemon.interface,
    );
    std::fs::create_dir_all(LOCK_DIR).expect("the lock directory");
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .unwrap_or_else(|e| panic!("creating {}: {e}", path.display()));
    std::os::unix::fs::chown(&path, Some(uid), Some(uid))
        .unwrap_or_else(|e| panic!("handing {} to uid {uid}: {e}", path.display()));
}

/// Stops the daemon, tears the lab down and checks nothing is left behind
/// (no namespace of the lab's, no pin directory).
pub fn down(lab: lb_lab::Lab, daemon: Daemon) {
    let tag = lab.tag().to_owned();
    let pins = lab.pin_root();
    drop(daemon);
    lab.down().expect("lab teardown");
    let left: Vec<String> = lb_lab::netns::list()
        .expect("ip netns list")
        .into_iter()
        .filter(|n| n.starts_with(&format!("{tag}-")))
        .collect();
    assert!(left.is_empty(), "namespaces left behind: {left:?}");
    assert!(!pins.exists(), "pins left behind: {}", pins.display());
}

/// `n` fresh GETs of `url` from the lab's client, one at a time; how many
/// each backend (the name it answers with) served.
pub fn spread(lab: &Lab, url: &str, n: usize) -> BTreeMap<String, usize> {
    let mut served = BTreeMap::new();
    for _ in 0..n {
        let r = lab
            .request(&Request::get(url).timeout(Duration::from_secs(5)))
            .expect("curl runs");
        assert!(r.ok(), "GET {url}: {r:?}");
        *served.entry(r.body.trim().to_owned()).or_insert(0) += 1;
    }
    served
}
