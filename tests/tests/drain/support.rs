//! Helpers of the drain tests: the lab and the daemon, bounded polling, long
//! requests placed on the drained backend, load runs and their figures, a
//! sampler of the drained backend's status, and raw TCP connections opened
//! from the client namespace.

use std::{
    collections::BTreeSet,
    fs::File,
    net::{SocketAddr, SocketAddrV4, TcpStream},
    process::Output,
    sync::atomic::{AtomicBool, Ordering},
    thread,
    time::{Duration, Instant},
};

use lb_lab::{
    AccessEntry, Backend, ConfigSpec, Daemon, Lab, LabSpec, LoadResult, Netns, Request, Response,
    client::{InFlight, unix_time},
};
use lb_tests::lab_support::{self, flows_json, wait_backend};
pub use lb_tests::lab_support::{lb_binary, poll, print_load};
use nix::sched::{CloneFlags, setns};
use serde_json::Value;

/// The backend every test drains.
pub const TARGET: &str = "web-2";

/// Now, in unix seconds: the clock of the daemon's `started_at`, the access
/// log and the Gunicorn events log.
pub fn now() -> f64 {
    unix_time()
}

/// A lab of three backends, web-1..web-3.
pub fn lab(prefix: &str) -> Lab {
    assert!(
        lb_lab::is_root(),
        "the drain tests need root (namespaces, XDP)"
    );
    Lab::up(LabSpec {
        prefix: prefix.into(),
        backends: 3,
        ipv6: false,
    })
    .expect("lab up")
}

/// Starts the daemon with `spec` and waits until every backend is active.
pub fn start_daemon(lab: &Lab, spec: &ConfigSpec) -> Daemon {
    let daemon = Daemon::start(lab, &lb_binary(), spec).expect("daemon starts");
    daemon
        .wait_ready(Duration::from_secs(20))
        .expect("daemon answers");
    daemon
        .wait_all_active(Duration::from_secs(20))
        .expect("backends active");
    daemon
}

/// Polls `name`'s status until `done` holds, at most `timeout`.
pub fn poll_backend(
    daemon: &Daemon,
    name: &str,
    what: &str,
    timeout: Duration,
    done: impl Fn(&Value) -> bool,
) -> Value {
    wait_backend(daemon, name, timeout, what, done)
}

/// `lb flows [--backend NAME] --json`.
pub fn flows(daemon: &Daemon, backend: Option<&str>) -> Vec<Value> {
    flows_json(daemon, backend)
}

/// The flows `lb flows` shows as live (not closing, not idle).
pub fn live_flows(daemon: &Daemon, backend: Option<&str>) -> Vec<Value> {
    flows(daemon, backend)
        .into_iter()
        .filter(|f| f["state"] == "live")
        .collect()
}

/// Long requests started so that at least one runs on [`TARGET`].
pub struct Long {
    pub path: String,
    pub requests: Vec<InFlight>,
    /// How many of them `lb flows` showed on the target when placed.
    pub on_target: usize,
}

/// Starts `n` GETs of `path` (a `/slow` or `/stream` of some seconds)
/// through the VIP, then `n` more until `lb flows` shows at least one of them
/// on [`TARGET`]. Each lands there with odds of one in three, so the rounds
/// go on until 24 have been tried (3 rounds of 3 would fail 2.6% of runs;
/// 24 tries leave 6e-5). Nothing else may be opening connections through the
/// VIP meanwhile.
pub fn start_long(lab: &Lab, daemon: &Daemon, path: &str, n: usize, timeout: Duration) -> Long {
    let all_before = live_flows(daemon, None).len();
    let target_before = live_flows(daemon, Some(TARGET)).len();
    let mut requests = Vec::new();
    let rounds = 24usize.div_ceil(n.max(1)).max(3);
    for round in 0..rounds {
        for _ in 0..n {
            requests.push(lab.spawn_request(Request::get(lab.vip_url(path)).timeout(timeout)));
        }
        let want = all_before + requests.len();
        poll(
            &format!("{want} live flows (round {round} of {path})"),
            Duration::from_secs(10),
            || (live_flows(daemon, None).len() >= want).then_some(()),
        );
        let on = live_flows(daemon, Some(TARGET))
            .len()
            .saturating_sub(target_before);
        if on > 0 {
            println!("{path}: {} started, {on} on {TARGET}", requests.len());
            return Long {
                path: path.to_owned(),
                requests,
                on_target: on,
            };
        }
    }
    panic!(
        "none of {} {path} requests landed on {TARGET}",
        requests.len()
    );
}

/// The backend that served a complete `/slow` or `/stream` response, checking
/// its body in full.
pub fn served_by(path: &str, r: &Response) -> String {
    assert!(r.ok(), "{path}: not a complete 2xx response: {r:?}");
    if path.starts_with("/stream") {
        let name = r.body.split(' ').next().unwrap_or_default().to_owned();
        let want: String = (0..10).map(|i| format!("{name} chunk {i}\n")).collect();
        assert_eq!(r.body, want, "{path}: incomplete stream");
        name
    } else {
        assert!(
            r.body.starts_with("web-") && !r.body.contains('\n'),
            "{path}: body {:?}",
            r.body
        );
        r.body.clone()
    }
}

/// Joins every request of `long`; returns how many `TARGET` served. Every
/// one must have completed with its full body.
pub fn finish_long(long: Long) -> usize {
    let mut on_target = 0;
    let mut slowest = Duration::ZERO;
    let n = long.requests.len();
    let placed = long.on_target;
    for r in long.requests {
        let r = r.join().expect("curl ran");
        slowest = slowest.max(r.elapsed);
        if served_by(&long.path, &r) == TARGET {
            on_target += 1;
        }
    }
    println!(
        "{}: {n} of {n} complete with full bodies, {on_target} served by {TARGET} ({placed} seen there when placed), slowest {slowest:.2?}",
        long.path
    );
    on_target
}

/// Prints and checks a load run: requests made, none failed, all 2xx.
pub fn assert_clean(label: &str, r: &LoadResult) {
    print_load(label, r);
    lab_support::assert_clean(label, r);
}

/// Waits until `backend` has served `n` requests from the client since
/// `since` (the load reaches it).
pub fn wait_served(lab: &Lab, backend: &Backend, since: f64, n: usize) {
    poll(
        &format!("{n} requests served by {}", backend.name()),
        Duration::from_secs(10),
        || {
            let served = backend
                .access_log()
                .ok()?
                .iter()
                .filter(|e| e.t >= since && from_client(lab, &e.client))
                .count();
            (served >= n).then_some(())
        },
    );
}

/// Waits until the backends together have served `n` requests from the
/// client since `since` (a load is running).
pub fn wait_load(lab: &Lab, since: f64, n: usize) {
    poll(
        &format!("{n} requests served"),
        Duration::from_secs(10),
        || {
            let mut served = 0;
            for b in lab.backends() {
                served += b
                    .access_log()
                    .ok()?
                    .iter()
                    .filter(|e| e.t >= since && from_client(lab, &e.client))
                    .count();
            }
            (served >= n).then_some(())
        },
    );
}

/// `"<client ip>:"`: the prefix of the access log's `client` for requests
/// through the VIP (health checks and on_drain hooks come from the LB).
pub fn client_ip(lab: &Lab) -> String {
    format!("{}:", lab.client_host().ipv4)
}

/// Whether a backend saw `seen_as` (its access log's `client`) as one of the
/// client's connections through the VIP. DSR: the client's own address. NAT:
/// the LB's address (the NAT source) at a port of NAT's range, below the
/// kernel's ephemeral ports (32768 up) that the LB's health checks and
/// on_drain notices come from.
pub fn from_client(lab: &Lab, seen_as: &str) -> bool {
    // DSR and DNAT backends see the client itself.
    if lab.nat_backends() == 0 || lab.is_dnat() {
        return seen_as.starts_with(&client_ip(lab));
    }
    let Ok(addr) = seen_as.parse::<SocketAddr>() else {
        return false;
    };
    let lb = lab.lb_host();
    let nat_source = addr.ip() == std::net::IpAddr::from(lb.ipv4)
        || lb
            .ipv6
            .is_some_and(|v6| addr.ip() == std::net::IpAddr::from(v6));
    nat_source && addr.port() < 32768
}

/// The address and port a flow of `lb flows` has in its backend's access
/// log: its NAT source when translated, else the client's own.
pub fn seen_as(flow: &Value) -> Option<String> {
    flow["nat"]
        .as_str()
        .or(flow["client"].as_str())
        .map(str::to_owned)
}

/// Connections from the client whose first request reached `backend` at or
/// after `since`.
pub fn first_requests_since(lab: &Lab, backend: &Backend, since: f64) -> Vec<AccessEntry> {
    backend
        .connections_since(since)
        .expect("access log")
        .into_iter()
        .filter(|e| from_client(lab, &e.client))
        .collect()
}

/// The draining backend's flows that the data plane made from the live
/// table: new flows less second chances (which recreate an entry of one of
/// its own connections).
pub fn picked_flows(daemon: &Daemon) -> u64 {
    let c = &daemon.backend_status(TARGET).expect("backend status")["counters"];
    let count = |k: &str| c[k].as_u64().unwrap_or_else(|| panic!("counter {k}: {c}"));
    count("new_flows") - count("second_chance")
}

/// No new connection reached [`TARGET`] once `lb drain` returned: exactly,
/// in the data plane (no flow picked for it since), and as the backend saw
/// it: every connection from the client whose first request it logged more
/// than 100 ms later is one `lb` had pinned to it when the drain began. Such
/// a connection is legitimate: a keep-alive client (Go's) may open a
/// connection before the drain and leave it idle in its pool until later.
pub fn assert_no_connection_after_drain(
    lab: &Lab,
    daemon: &Daemon,
    backend: &Backend,
    run: &DrainRun,
) {
    let picked = picked_flows(daemon);
    assert_eq!(
        picked,
        run.picked_at_return,
        "lb picked {TARGET} for {} new flows after `lb drain` returned",
        picked - run.picked_at_return
    );
    let (pinned, new): (Vec<_>, Vec<_>) = first_requests_since(lab, backend, run.returned_at + 0.1)
        .into_iter()
        .partition(|e| run.pinned_clients.contains(&e.client));
    if !pinned.is_empty() {
        println!(
            "connections pinned to {TARGET} at the drain whose first request came later: {:?}",
            pinned
                .iter()
                .map(|e| format!("{} at {:+.3} s", e.client, e.t - run.returned_at))
                .collect::<Vec<_>>()
        );
    }
    assert!(
        new.is_empty(),
        "new connections on {TARGET} after the drain (not among its {} flows when `lb drain` returned): {new:?}",
        run.pinned_clients.len()
    );
}

/// The drain as `lb drain` starts it and `lb drain --wait` follows it.
pub struct DrainRun {
    /// When `lb drain NAME` (without --wait) returned: the flip is done.
    pub returned_at: f64,
    /// [`picked_flows`] just after that.
    pub picked_at_return: u64,
    /// The clients of the target's flows `lb flows` listed just after that:
    /// the connections the drain pinned to it.
    pub pinned_clients: BTreeSet<String>,
    /// `lb drain NAME --wait`.
    pub wait: Output,
    /// When it returned.
    pub done_at: f64,
}

/// `lb drain TARGET EXTRA...`, then `lb drain TARGET --wait EXTRA...` (a no-op
/// start that follows the drain in progress), bounded by `limit`. If the
/// drain still has live flows 8 s in, prints them once ([`explain_live`]).
pub fn drain(lab: &Lab, daemon: &Daemon, extra: &[&str], limit: Duration) -> DrainRun {
    let mut args = vec!["drain", TARGET];
    args.extend_from_slice(extra);
    let start = daemon.lb(&args).expect("lb drain runs");
    let returned_at = now();
    assert!(
        start.status.success(),
        "lb drain: {}",
        String::from_utf8_lossy(&start.stderr)
    );
    let picked_at_return = picked_flows(daemon);
    let pinned_clients = flows(daemon, Some(TARGET))
        .iter()
        .filter_map(seen_as)
        .collect();
    args.push("--wait");
    let wait = thread::scope(|s| {
        let waiter = s.spawn(|| {
            daemon
                .lb_timeout(&args, limit)
                .expect("lb drain --wait runs")
        });
        let mut explained = false;
        while !waiter.is_finished() {
            thread::sleep(Duration::from_millis(250));
            if explained {
                continue;
            }
            let Ok(b) = daemon.backend_status(TARGET) else {
                continue;
            };
            let d = &b["drain"];
            if d["outcome"].is_null() && d["elapsed_s"].as_f64().unwrap_or(0.0) >= 8.0 {
                explained = true;
                println!(
                    "the drain still has {} live flows after 8 s:",
                    b["live_flows"]
                );
                explain_live(lab, daemon, lab.backend(TARGET).expect("target"));
            }
        }
        waiter.join().expect("waiter thread")
    });
    DrainRun {
        returned_at,
        picked_at_return,
        pinned_clients,
        wait,
        done_at: now(),
    }
}

pub fn exit_code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

/// One look at the drained backend's status.
#[derive(Clone, Debug)]
pub struct Sample {
    pub t: f64,
    pub state: String,
    pub live: u64,
    pub signal: String,
    pub outcome: Option<String>,
}

impl Sample {
    pub fn of(t: f64, b: &Value) -> Sample {
        let d = &b["drain"];
        Sample {
            t,
            state: b["state"].as_str().unwrap_or_default().to_owned(),
            live: b["live_flows"].as_u64().unwrap_or(u64::MAX),
            signal: d["signal"].as_str().unwrap_or_default().to_owned(),
            outcome: d["outcome"].as_str().map(str::to_owned),
        }
    }
}

/// Samples [`TARGET`]'s status every ~50 ms until `stop` is set, at most
/// `limit`.
pub fn sample(daemon: &Daemon, stop: &AtomicBool, limit: Duration) -> Vec<Sample> {
    let deadline = Instant::now() + limit;
    let mut v = Vec::new();
    while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
        if let Ok(b) = daemon.backend_status(TARGET) {
            v.push(Sample::of(now(), &b));
        }
        thread::sleep(Duration::from_millis(50));
    }
    v
}

/// Opens TCP connections from the client to the VIP's port 80, `prepare`s
/// each, and keeps `n` that `lb flows` shows on [`TARGET`] (the others are
/// closed with a FIN).
pub fn place_connections(
    lab: &Lab,
    daemon: &Daemon,
    n: usize,
    prepare: impl Fn(&TcpStream),
) -> Vec<TcpStream> {
    let vip = SocketAddr::new(lab.vip().into(), 80);
    let mut ours = Vec::new();
    // Where each round's connections went, for the message if too few land
    // on the target (a third should; 60 tries leave ~1e-8 to chance).
    let mut placed = Vec::new();
    for _round in 0..10 {
        let conns = connect_in(lab.client_ns(), vip, 6);
        for c in &conns {
            prepare(c);
        }
        let addrs: Vec<String> = conns
            .iter()
            .map(|c| c.local_addr().expect("local address").to_string())
            .collect();
        let seen = poll("the new connections' flows", Duration::from_secs(5), || {
            let f = live_flows(daemon, None);
            addrs
                .iter()
                .all(|a| f.iter().any(|x| x["client"] == a.as_str()))
                .then_some(f)
        });
        for (c, a) in conns.into_iter().zip(&addrs) {
            let backend = seen
                .iter()
                .find(|f| f["client"] == a.as_str())
                .map_or(Value::Null, |f| f["backend"].clone());
            placed.push(format!("{a} -> {backend}"));
            if backend == TARGET && ours.len() < n {
                ours.push(c);
            }
        }
        if ours.len() == n {
            return ours;
        }
    }
    let backends: Vec<String> = daemon.status().map_or_else(
        |e| vec![format!("no status: {e}")],
        |s| {
            s["vips"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|v| v["backends"].as_array().into_iter().flatten())
                .map(|b| format!("{} {} {}", b["name"], b["state"], b["health"]))
                .collect()
        },
    );
    panic!(
        "could not place {n} connections on {TARGET}: placed {placed:?}; backends now {backends:?}; daemon log:\n{}",
        daemon.log_tail(30)
    );
}

/// Opens `n` TCP connections to `addr` from inside `ns` (the sockets stay in
/// that namespace whichever thread uses them later).
pub fn connect_in(ns: &Netns, addr: SocketAddr, n: usize) -> Vec<TcpStream> {
    let path = ns.path();
    thread::scope(|s| {
        s.spawn(|| {
            let f = File::open(&path).expect("open the namespace");
            setns(&f, CloneFlags::CLONE_NEWNET).expect("setns");
            (0..n)
                .map(|_| {
                    TcpStream::connect_timeout(&addr, Duration::from_secs(3))
                        .expect("connect to the VIP")
                })
                .collect()
        })
        .join()
        .expect("connecting thread")
    })
}

/// Prints `backend`'s live flows and, for each, the last requests its client
/// port made there (to explain a drain that does not end).
pub fn explain_live(lab: &Lab, daemon: &Daemon, backend: &Backend) {
    let log = backend.access_log().unwrap_or_default();
    for f in flows(daemon, Some(backend.name())) {
        if f["state"] != "live" {
            continue;
        }
        println!("live flow on {}: {f}", backend.name());
        let c = seen_as(&f).unwrap_or_default();
        let mine: Vec<&AccessEntry> = log
            .iter()
            .filter(|e| e.client == c && from_client(lab, &e.client))
            .collect();
        for e in mine.iter().rev().take(3) {
            println!("  its request: {e:?}");
        }
        if mine.is_empty() {
            println!("  no request of it in {}'s access log", backend.name());
        }
    }
}

/// Opens a TCP connection to `to` from `from` (a chosen client address and
/// port) inside `ns`.
pub fn connect_from(ns: &Netns, from: SocketAddrV4, to: SocketAddrV4) -> TcpStream {
    use std::os::fd::AsRawFd as _;

    use nix::sys::socket::{
        AddressFamily, SockFlag, SockType, SockaddrIn, bind, connect, setsockopt, socket, sockopt,
    };
    let path = ns.path();
    thread::scope(|s| {
        s.spawn(|| {
            let f = File::open(&path).expect("open the namespace");
            setns(&f, CloneFlags::CLONE_NEWNET).expect("setns");
            let fd = socket(
                AddressFamily::Inet,
                SockType::Stream,
                SockFlag::SOCK_CLOEXEC,
                None,
            )
            .expect("socket");
            setsockopt(&fd, sockopt::ReuseAddr, &true).expect("SO_REUSEADDR");
            bind(fd.as_raw_fd(), &SockaddrIn::from(from)).expect("bind the client port");
            connect(fd.as_raw_fd(), &SockaddrIn::from(to)).expect("connect to the VIP");
            TcpStream::from(fd)
        })
        .join()
        .expect("connecting thread")
    })
}

/// Reads one HTTP/1.1 response with a Content-Length from `conn`; returns
/// its body, or the error that cut it (EOF: `UnexpectedEof`).
pub fn read_response(mut conn: &TcpStream) -> std::io::Result<String> {
    use std::io::{Error, ErrorKind, Read as _};
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let text = String::from_utf8_lossy(&got).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let len: usize = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse().ok())?
                })
                .ok_or_else(|| Error::other(format!("no Content-Length in {head:?}")))?;
            if body.len() >= len {
                return Ok(body.to_owned());
            }
        }
        if got.len() > 65536 {
            return Err(Error::other("response too long"));
        }
        let n = conn.read(&mut buf)?;
        if n == 0 {
            return Err(Error::new(
                ErrorKind::UnexpectedEof,
                format!("closed after {} bytes", got.len()),
            ));
        }
        got.extend_from_slice(&buf[..n]);
    }
}
