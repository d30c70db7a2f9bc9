//! The fleet demo of `cargo xtask run -- --fleet` (docs/fleet.md): the
//! fleet lab of `lb-lab` (a router running BIRD 2 with ECMP in front of three
//! LB nodes, each running `lb daemon` with `[cluster]` and `[cluster.bgp]`
//! and its own BIRD, etcd, Gunicorn/Uvicorn/FastAPI backends, the client
//! behind the router, IPv4 and IPv6). Prints what to try, keeps the backends
//! running as the one-node demo does, and tears everything down on Ctrl-C.
use std::{
    fmt::Write as _,
    net::SocketAddr,
    path::Path,
    thread,
    time::{Duration, Instant},
};

use anyhow::{Result, bail};
use lb_lab::{ConfigSpec, Daemon, Fleet, FleetSpec, bird, netns};

use crate::lab::{install_signal_pipe, restart_exited_backends, shown_path, wait_signal};

/// Every node's Prometheus listener, inside its own namespace.
const METRICS: &str = "127.0.0.1:9464";
const NODES: usize = 3;
/// The nodes' etcd lease: a dead node leaves the fleet after at most this.
const LEASE_TTL: Duration = Duration::from_secs(5);
const PREFIX: &str = "fdemo";

/// Runs the fleet demo with the `lb` binary at `lb` until Ctrl-C.
pub fn run_fleet(lb: &Path) -> Result<()> {
    if !lb_lab::is_root() {
        bail!(
            "the fleet demo needs root (network namespaces, XDP); run `cargo xtask run -- --fleet` as root"
        );
    }
    for ns in lb_lab::remove_stale(PREFIX)? {
        println!("removed a stale namespace of an earlier fleet demo: {ns}");
    }
    println!(
        "bringing the fleet up: router (BIRD, ECMP), etcd, {NODES} lb nodes (each with BIRD), 3 Gunicorn + Uvicorn + FastAPI backends..."
    );
    // Until everything is up, Ctrl-C is lb-lab's: it tears down what exists.
    let fleet = Fleet::up(FleetSpec {
        prefix: PREFIX.into(),
        backends: 3,
        nodes: NODES,
        ipv6: true,
    })?;
    let daemons = match start_daemons(&fleet, lb) {
        Ok(d) => d,
        Err(e) => {
            let _ = fleet.down();
            return Err(e);
        }
    };
    // From here on Ctrl-C is ours: an orderly teardown.
    let outcome = install_signal_pipe().and_then(|signals| {
        let status = daemons[0].lb(&["status", "--fleet"])?;
        println!("\n{}", String::from_utf8_lossy(&status.stdout).trim_end());
        print_guide(&fleet, &daemons, lb);
        supervise(&fleet, &daemons, signals)
    });
    let torn = teardown(fleet, daemons);
    outcome.and(torn)
}

/// Each node's daemon, announcing the VIPs through its BIRD once it has
/// reconciled with etcd; returns when the router routes both VIPs over
/// every node.
fn start_daemons(fleet: &Fleet, lb: &Path) -> Result<Vec<Daemon>> {
    let lab = fleet.lab();
    let etcd = fleet.etcd_endpoint();
    let spec = ConfigSpec {
        metrics: Some(METRICS.parse::<SocketAddr>()?),
        ..ConfigSpec::default()
    };
    let mut daemons = Vec::with_capacity(NODES);
    for n in fleet.nodes() {
        let config = n.bgp_config(lab, &spec, &etcd, LEASE_TTL);
        daemons.push(n.start_daemon(lab, lb, config)?);
    }
    for d in &daemons {
        d.wait_ready(Duration::from_secs(30))?;
        d.wait_all_active(Duration::from_secs(30))?;
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let v4 = fleet.vip_next_hops()?.len();
        let v6 = fleet.vip6_next_hops()?.len();
        if v4 == NODES && v6 == NODES {
            return Ok(daemons);
        }
        if Instant::now() >= deadline {
            bail!("the router routes VIP over {v4} and VIP6 over {v6} of {NODES} nodes after 30 s");
        }
        thread::sleep(Duration::from_millis(100));
    }
}

fn print_guide(fleet: &Fleet, daemons: &[Daemon], lb: &Path) {
    let lab = fleet.lab();
    let lb = shown_path(lb);
    let lb = lb.display();
    let client = lab.client_ns().name();
    let c = lab.client_host();
    let router = fleet.router_ns().name();
    let vip = lab.vip();
    let vip6 = lab.vip6().map(|v| v.to_string()).unwrap_or_default();
    let mut nodes = String::new();
    let mut per_node = String::new();
    for (n, d) in fleet.nodes().iter().zip(daemons) {
        let _ = write!(
            nodes,
            "\n  {}      namespace {} ({}): XDP on {}, socket {}, BIRD AS {}",
            n.name(),
            n.ns().name(),
            n.host().ipv4,
            n.iface(),
            d.socket().display(),
            bird::NODES_AS,
        );
        let _ = write!(
            per_node,
            "\n  {lb} --socket {} status",
            d.socket().display()
        );
    }
    let s = |i: usize| daemons[i].socket().display().to_string();
    let etcd_ns = format!("{}-etcd", lab.tag());
    let etcd = fleet.etcd_endpoint();
    let router_ctl = fleet.router_bird().socket().display().to_string();
    println!(
        "
The fleet demo is up:
  client    namespace {client} ({c4}, {c6}), behind the router
  router    namespace {router}: BIRD AS {ras}, one eBGP session per node and
            family, VIP and VIP6 installed as ECMP routes hashed on the 5-tuple{nodes}
  etcd      namespace {etcd_ns}, {etcd} (admin states, live counts, leases)
  VIPs      http://{vip}/  http://[{vip6}]/ (DSR: the backends reply via the router)
  backends  web-1..3 (web6-1..3 on IPv6): Gunicorn + Uvicorn + FastAPI on :80
            with the VIPs on lo; `/` answers with the backend's name
  logs      {dir}/ (lb-N daemon logs, *-bird.log, etcd.log, web-N.log)

Try, as root in another terminal (copy-paste):
{per_node}
  {lb} --socket {s0} status --fleet
  ip netns exec {client} sh -c 'for i in $(seq 12); do curl -s http://{vip}/; done'
  ip netns exec {client} sh -c 'for i in $(seq 12); do curl -s -g http://[{vip6}]/; done'
  ip netns exec {client} hey -z 20s -c 8 http://{vip}/
  {lb} --socket {s1} drain web-2 --wait
  {lb} --socket {s2} enable web-2
  {lb} --socket {s0} node drain
  {lb} --socket {s0} node enable
  ip netns exec {router} ip route show {vip}
  birdc -s {router_ctl} show protocols
  ip netns exec {etcd_ns} etcdctl --endpoints {etcd} get --prefix /lb
  ip netns exec {node1} curl -s http://{METRICS}/metrics

Each curl is a new connection with a new source port: the router spreads
them over lb-1..3 (their `status` shows each node's share), and every node
sends a given connection to the same backend. Start the hey load and, while
it runs, drain web-2 on lb-2: every node stops sending it new connections,
the drain completes when web-2's connections are gone on all nodes, its
Gunicorn gets SIGTERM once in the fleet, and hey's summary shows the errors
(none expected). The demo then starts web-2's Gunicorn again, as a process
supervisor would; `enable web-2` on any node puts it back everywhere.
`node drain` withdraws lb-1's routes (see the router's route) and returns
once no flow uses it; `node enable` announces them again.

Ctrl-C here tears everything down: daemons, BIRDs, etcd, backends,
namespaces, the XDP programs and their pins.",
        c4 = c.ipv4,
        c6 = c.ipv6.map(|a| a.to_string()).unwrap_or_default(),
        ras = bird::ROUTER_AS,
        dir = lab.dir().display(),
        s0 = s(0),
        s1 = s(1),
        s2 = s(2),
        node1 = fleet.nodes()[0].ns().name(),
    );
}

/// Waits for Ctrl-C (or SIGTERM, SIGHUP), restarting any backend whose
/// Gunicorn has exited (after a drain's SIGTERM). Errs if a daemon dies.
fn supervise(fleet: &Fleet, daemons: &[Daemon], signals: libc::c_int) -> Result<()> {
    loop {
        if let Some(sig) = wait_signal(signals, Duration::from_secs(1)) {
            println!("\nsignal {sig}: tearing the fleet demo down...");
            return Ok(());
        }
        for (n, d) in fleet.nodes().iter().zip(daemons) {
            if !d.is_running() {
                bail!(
                    "the lb daemon of {} exited; its log:\n{}",
                    n.name(),
                    d.log_tail(30)
                );
            }
        }
        restart_exited_backends(fleet.lab())?;
    }
}

/// On every node `lb teardown` and the daemon stopped (it withdraws its
/// VIPs); then BIRDs, etcd and the lab down, and a check that no namespace
/// or pin of it is left.
fn teardown(fleet: Fleet, daemons: Vec<Daemon>) -> Result<()> {
    let tag = fleet.lab().tag().to_owned();
    let pins = fleet.lab().pin_root();
    for (n, mut d) in fleet.nodes().iter().zip(daemons) {
        match d.lb(&["teardown"]) {
            Ok(out) => {
                let text = String::from_utf8_lossy(&out.stdout);
                let first = text.lines().next().unwrap_or("no answer");
                println!("{}: lb teardown: {first}", n.name());
            }
            Err(e) => println!("{}: lb teardown: {e:#}", n.name()),
        }
        if let Err(e) = d.stop() {
            println!("{}: stopping the daemon: {e:#}", n.name());
        }
    }
    fleet.down()?;
    let left: Vec<String> = netns::list()?
        .into_iter()
        .filter(|n| n.starts_with(&format!("{tag}-")))
        .collect();
    if !left.is_empty() {
        bail!("namespaces left behind: {}", left.join(" "));
    }
    if pins.exists() {
        bail!("pins left behind under {}", pins.display());
    }
    println!("fleet demo removed: no namespace, process or pin of it is left");
    Ok(())
}
