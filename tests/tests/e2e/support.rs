//! Helpers of the end-to-end tests: bringing a lab and its daemon up, load
//! runs and their report, `lb flows` and `lb status` figures, access-log
//! counts, and requests held in flight on a chosen backend.

use std::{
    collections::{BTreeMap, BTreeSet},
    thread,
    time::{Duration, Instant},
};

use lb_lab::{
    Backend, ConfigSpec, Daemon, Lab, LabSpec, LoadResult, LoadRun, LoadSpec, Tool, access,
    client::InFlight,
};
use lb_tests::lab_support::print_load;
pub use lb_tests::lab_support::{assert_clean, backends, lb_binary, new_flows, poll, wait_backend};
use serde_json::Value;

/// How long the daemon may take to answer and its backends to pass `rise`.
pub const READY: Duration = Duration::from_secs(30);

pub fn lab(prefix: &str, backends: usize, ipv6: bool) -> Lab {
    Lab::up(LabSpec {
        prefix: prefix.into(),
        backends,
        ipv6,
    })
    .expect("lab up")
}

/// Starts the daemon and waits until every backend is active.
pub fn daemon(lab: &Lab, config: lb_lab::LbConfig) -> Daemon {
    let d = Daemon::start_with(lab, &lb_binary(), config).expect("daemon starts");
    d.wait_ready(READY).expect("daemon answers");
    d.wait_all_active(READY).expect("backends active");
    d
}

/// A lab of `backends` backends with the daemon running `spec`, all active.
pub fn up(prefix: &str, backends: usize, ipv6: bool, spec: &ConfigSpec) -> (Lab, Daemon) {
    let lab = lab(prefix, backends, ipv6);
    let config = lb_lab::LbConfig::render(&lab, spec);
    let d = daemon(&lab, config);
    (lab, d)
}

pub use lb_tests::lab_support::down;

/// A hey run from the client namespace (GET, at most 16 connections).
pub fn hey(lab: &Lab, url: &str, keepalive: bool, connections: u32, secs: f64) -> LoadRun {
    assert!(connections <= 16);
    let mut spec = LoadSpec::new(Tool::Hey, url);
    spec.keepalive = keepalive;
    spec.connections = connections;
    spec.duration = Duration::from_secs_f64(secs);
    LoadRun::spawn(lab, spec).expect("hey starts")
}

/// Prints a run's figures under `label`.
pub fn show(label: &str, r: &LoadResult) {
    print_load(&format!("  {label}"), r);
}

/// Joins a run, prints it and returns it.
pub fn finish(label: &str, run: LoadRun) -> LoadResult {
    let r = run.join().expect("load run");
    show(label, &r);
    r
}

/// Runs `lb ARGS`, asserting exit 0; returns stdout.
pub fn lb_ok(daemon: &Daemon, args: &[&str]) -> String {
    let out = daemon.lb(args).expect("lb runs");
    assert!(
        out.status.success(),
        "lb {args:?} failed ({}): {}{}\ndaemon log:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        daemon.log_tail(30)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// One row of `lb flows --json`.
#[derive(Clone, Debug)]
pub struct Flow {
    pub client: String,
    pub backend: String,
    pub state: String,
    pub age_s: f64,
    pub idle_s: f64,
}

/// `lb flows --json` (optionally of one backend).
pub fn flows(daemon: &Daemon, backend: Option<&str>) -> Vec<Flow> {
    let mut args = vec!["flows", "--json"];
    if let Some(b) = backend {
        args.extend(["--backend", b]);
    }
    let text = lb_ok(daemon, &args);
    let v: Value = serde_json::from_str(&text).expect("lb flows --json parses");
    v.as_array()
        .expect("a JSON array")
        .iter()
        .map(|f| Flow {
            client: f["client"].as_str().unwrap_or("").to_owned(),
            backend: f["backend"].as_str().unwrap_or("").to_owned(),
            state: f["state"].as_str().unwrap_or("").to_owned(),
            age_s: f["age_s"].as_f64().unwrap_or(f64::NAN),
            idle_s: f["idle_s"].as_f64().unwrap_or(f64::NAN),
        })
        .collect()
}

/// The connections a backend accepted from `client` (its address, as the
/// access log writes it before the port: "198.51.100.1" or
/// "[2001:db8:100::1]") with their first request in `[since, until)`.
pub fn connections(b: &Backend, client: &str, since: f64, until: f64) -> Vec<access::AccessEntry> {
    let prefix = format!("{client}:");
    b.connections_since(since)
        .expect("access log")
        .into_iter()
        .filter(|e| e.t < until && e.client.starts_with(&prefix))
        .collect()
}

/// The client namespace's address as the access log writes it.
pub fn client_v4(lab: &Lab) -> String {
    lab.client_host().ipv4.to_string()
}

pub fn client_v6(lab: &Lab) -> String {
    format!("[{}]", lab.client_host().ipv6.expect("lab with IPv6"))
}

/// The client ports of the connections `b` accepted from `client` since
/// `since`, from its access log.
pub fn client_ports(b: &Backend, client: &str, since: f64) -> BTreeSet<u16> {
    connections(b, client, since, f64::INFINITY)
        .iter()
        .filter_map(|e| e.client.rsplit_once(':')?.1.parse().ok())
        .collect()
}

/// Local TCP ports of every socket in the client namespace (TIME_WAIT
/// included): a chosen source port must not be one of them.
pub fn busy_ports(lab: &Lab) -> BTreeSet<u16> {
    let out = lab
        .client_ns()
        .run(&["ss", "-Htan"])
        .expect("ss in the client namespace");
    out.lines()
        .filter_map(|l| {
            l.split_whitespace()
                .nth(3)?
                .rsplit_once(':')?
                .1
                .parse()
                .ok()
        })
        .collect()
}

/// What a [`Curl`] got.
#[derive(Clone, Debug)]
pub struct CurlResult {
    pub status: Option<u16>,
    pub body: String,
    /// curl's exit code (0 ok, 45 the local port was busy, ...).
    pub exit: i32,
    pub error: String,
}

impl CurlResult {
    pub fn ok(&self) -> bool {
        self.exit == 0 && self.status.is_some_and(|s| (200..300).contains(&s))
    }
}

/// A GET from the client namespace from a chosen source port, in the
/// background: lb picks a backend by the connection's 5-tuple, so a port
/// that went to a backend before goes there again while the VIP's table is
/// unchanged.
pub struct Curl {
    pub port: u16,
    handle: thread::JoinHandle<CurlResult>,
}

const CURL_MARK: &str = "\n@@e2e@@";

impl Curl {
    pub fn spawn(lab: &Lab, url: &str, port: u16, timeout: Duration) -> Curl {
        let ns = lab.client_ns().name().to_owned();
        let url = url.to_owned();
        let handle = thread::spawn(move || {
            let max = format!("{:.1}", timeout.as_secs_f64());
            let kill = format!("{:.1}", timeout.as_secs_f64() + 5.0);
            let port_s = port.to_string();
            let out = std::process::Command::new("ip")
                .args(["netns", "exec", &ns, "timeout", "-k", "2", &kill])
                .args([
                    "curl",
                    "-sS",
                    "-g",
                    "--local-port",
                    &port_s,
                    "--max-time",
                    &max,
                ])
                .args(["-o", "-", "-w", &format!("{CURL_MARK}%{{http_code}}"), &url])
                .output()
                .expect("curl runs");
            let stdout = String::from_utf8_lossy(&out.stdout);
            let (body, code) = stdout.rsplit_once(CURL_MARK).unwrap_or((&stdout, ""));
            CurlResult {
                status: code.trim().parse().ok().filter(|c| *c != 0),
                body: body.to_owned(),
                exit: out.status.code().unwrap_or(-1),
                error: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
            }
        });
        Curl { port, handle }
    }

    pub fn is_finished(&self) -> bool {
        self.handle.is_finished()
    }

    pub fn join(self) -> CurlResult {
        self.handle.join().expect("curl thread")
    }
}

/// Starts `want + 1` requests of each of `paths` through the VIP (`url`)
/// from client ports that the backend called `name` in lb served before, and
/// waits (3 s at most) until `lb flows` shows each live on it or curl ended
/// (a busy port); at least `want` of each must be on it. Returns, per path,
/// those on it and the others.
pub fn pin_in_flight(
    lab: &Lab,
    daemon: &Daemon,
    name: &str,
    ports: &BTreeSet<u16>,
    url: &dyn Fn(&str) -> String,
    paths: &[&str],
    want: usize,
) -> Vec<(Vec<Curl>, Vec<Curl>)> {
    let per_kind = want + 1;
    let busy = busy_ports(lab);
    let free: Vec<u16> = ports.difference(&busy).copied().collect();
    assert!(
        free.len() >= per_kind * paths.len(),
        "only {} free client ports known to go to {name} ({} known, {} busy)",
        free.len(),
        ports.len(),
        busy.len()
    );
    let mut ports = free.into_iter();
    let started: Vec<Vec<Curl>> = paths
        .iter()
        .map(|p| {
            (0..per_kind)
                .map(|_| Curl::spawn(lab, &url(p), ports.next().unwrap(), Duration::from_secs(30)))
                .collect()
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let live: BTreeSet<u16> = flows(daemon, Some(name))
            .into_iter()
            .filter(|f| f.state == "live")
            .filter_map(|f| f.client.rsplit_once(':')?.1.parse().ok())
            .collect();
        let counts: Vec<usize> = started
            .iter()
            .map(|kind| kind.iter().filter(|c| live.contains(&c.port)).count())
            .collect();
        // Every request is live on the backend or over (its port was busy).
        let resolved = started
            .iter()
            .flatten()
            .all(|c| live.contains(&c.port) || c.is_finished());
        if resolved || Instant::now() >= deadline {
            if counts.iter().any(|&n| n < want) {
                let ended: Vec<CurlResult> = started
                    .into_iter()
                    .flatten()
                    .filter(Curl::is_finished)
                    .map(Curl::join)
                    .collect();
                panic!(
                    "requests in flight on {name}: {counts:?} of {paths:?}, wanted {want} each; ended: {ended:?}"
                );
            }
            return started
                .into_iter()
                .map(|kind| kind.into_iter().partition(|c| live.contains(&c.port)))
                .collect();
        }
        thread::sleep(Duration::from_millis(50));
    }
}

/// Joins requests, asserting each completed with a 2xx and the body that
/// `body(backend name)` gives for one of `names` (unless `strict` is false
/// and curl could not bind its port); returns how many each backend answered.
pub fn join_all(
    label: &str,
    reqs: Vec<Curl>,
    strict: bool,
    names: &[String],
    body: impl Fn(&str) -> String,
) -> BTreeMap<String, usize> {
    let mut by = BTreeMap::new();
    for r in reqs {
        let r = r.join();
        if r.exit == 45 && !strict {
            // curl could not bind the chosen port (still in use): no request.
            continue;
        }
        assert!(
            r.ok(),
            "{label}: request failed: curl exit {}, {}: {r:?}",
            r.exit,
            r.error
        );
        let who = names
            .iter()
            .find(|n| r.body == body(n))
            .unwrap_or_else(|| panic!("{label}: incomplete or unexpected body {:?}", r.body));
        *by.entry(who.clone()).or_default() += 1;
    }
    by
}

/// Joins requests of the lab's client, asserting each completed with a 2xx
/// and the body `name` for one of `names`; returns how many each answered.
pub fn join_requests(
    label: &str,
    reqs: Vec<InFlight>,
    names: &[String],
) -> BTreeMap<String, usize> {
    let mut by = BTreeMap::new();
    for r in reqs {
        let r = r.join().expect("curl runs");
        assert!(r.ok(), "{label}: request failed: {r:?}");
        let who = names
            .iter()
            .find(|n| r.body == **n)
            .unwrap_or_else(|| panic!("{label}: unexpected body {:?}", r.body));
        *by.entry(who.clone()).or_default() += 1;
    }
    by
}

/// The full body of `/stream?seconds=N` from `name`.
pub fn stream_body(name: &str) -> String {
    (0..10).map(|i| format!("{name} chunk {i}\n")).collect()
}

/// Per-backend shares of `counts` against an even split: asserts each is
/// within `tolerance` (relative) of total / n; prints them.
pub fn assert_even(label: &str, counts: &BTreeMap<String, u64>, tolerance: f64) {
    let total: u64 = counts.values().sum();
    let expected = total as f64 / counts.len() as f64;
    for (name, &c) in counts {
        let dev = (c as f64 - expected) / expected;
        println!(
            "  {label}: {name} {c} connections = {:.2}% (expected {expected:.0}, deviation {:+.2}%, bound ±{:.0}%)",
            100.0 * c as f64 / total as f64,
            100.0 * dev,
            100.0 * tolerance
        );
    }
    for (name, &c) in counts {
        let dev = (c as f64 - expected).abs() / expected;
        assert!(
            dev <= tolerance,
            "{label}: {name} got {c} of {total} connections, {:.1}% off an even share (bound {:.0}%)",
            100.0 * dev,
            100.0 * tolerance
        );
    }
}

pub fn secs(d: Duration) -> String {
    format!("{:.3} s", d.as_secs_f64())
}
