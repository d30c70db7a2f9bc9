//! One real attach, end to end, inside throwaway network namespaces:
//!
//! ```text
//!  client ns            switch ns (bridge br0)            lb ns
//!  eth0 198.51.100.1 ── c0 ─┐                        ┌─ l0 ── eth0 198.51.100.2 [XDP lb, native]
//!                           br0 ─────────────────────┤
//!  b1 ns                    │                        │
//!  eth0 198.51.100.11 ─ b0 ─┘
//!  lo   198.51.100.10 (the VIP; arp_ignore=1, arp_announce=2)
//! ```
//!
//! The client reaches the VIP through a static neighbour entry pointing at
//! the LB's MAC; the program rewrites the MACs and sends the frame back out
//! (XDP_TX) to the backend, which answers the client directly (DSR).
//!
//! Native XDP_TX on a veth only delivers when the peer veth runs an XDP
//! program too (docs/toolchain.md). The test checks that first with one probe
//! connection, then attaches a second instance of the program, with empty
//! maps (so it passes everything), to the peer `l0` in the switch namespace.

use std::{
    net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener},
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context, Result, ensure};
use aya::programs::XdpMode;
use lb_common::{backend::STATE_ACTIVE, flow::FLOW_F_FIN, vip::PROTO_TCP};
use lb_tests::{
    counters::Scope,
    dataplane::{Dataplane, backend_mac},
    netns::{self, Netns},
    server::{LineServer, request},
};

const VIP: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 10);
const LB_ADDR: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 2);
const CONNECTIONS: u64 = 20;
const LOCAL_CONNECTIONS: u64 = 5;
const TIMEOUT: Duration = Duration::from_secs(3);
const CLIENT_MAC: &str = "02:00:00:00:01:01";
const LB_MAC: &str = "02:00:00:00:01:02";

fn mac_string(mac: [u8; 6]) -> String {
    mac.map(|b| format!("{b:02x}")).join(":")
}

/// Every namespace of the topology; dropping it deletes them all.
struct Lab {
    switch: Netns,
    client: Netns,
    lb: Netns,
    backend: Netns,
}

impl Lab {
    fn build() -> Result<Self> {
        let lab = Lab {
            switch: netns::create("sw")?,
            client: netns::create("client")?,
            lb: netns::create("lb")?,
            backend: netns::create("b1")?,
        };
        let sw = &lab.switch;
        sw.ip(&["link", "add", "name", "br0", "type", "bridge"])?;
        sw.ip(&["link", "set", "br0", "up"])?;
        // A plain switch: without this, br_netfilter (built in, on in every new
        // namespace) runs bridged IP frames through netfilter.
        for t in ["iptables", "ip6tables", "arptables"] {
            sw.sysctl(&[(&format!("net.bridge.bridge-nf-call-{t}"), "0")])?;
        }
        let b1_mac = mac_string(backend_mac(1));
        let hosts = [
            (&lab.client, CLIENT_MAC, "198.51.100.1/24", "c0"),
            (&lab.lb, LB_MAC, "198.51.100.2/24", "l0"),
            (&lab.backend, b1_mac.as_str(), "198.51.100.11/24", "b0"),
        ];
        for (ns, mac, addr, port) in hosts {
            // Both ends are created inside test namespaces, never in the host's.
            ns.ip(&[
                "link",
                "add",
                "name",
                "eth0",
                "address",
                mac,
                "type",
                "veth",
                "peer",
                "name",
                port,
                "netns",
                sw.name(),
            ])?;
            sw.ip(&["link", "set", port, "master", "br0", "up"])?;
            ns.ip(&["addr", "add", addr, "dev", "eth0"])?;
            ns.ip(&["link", "set", "eth0", "up"])?;
        }
        let b = &lab.backend;
        b.ip(&["addr", "add", "198.51.100.10/32", "dev", "lo"])?;
        for dev in ["all", "eth0"] {
            b.sysctl(&[(&format!("net.ipv4.conf.{dev}.arp_ignore"), "1")])?;
            b.sysctl(&[(&format!("net.ipv4.conf.{dev}.arp_announce"), "2")])?;
        }
        // Veth hands locally made TCP segments on with CHECKSUM_PARTIAL (checksum
        // left to "hardware"); a native XDP_TX turns the frame into an xdp_frame
        // and that state is lost, so the backend sees a bad checksum
        // (TcpInCsumErrors; seen here). Frames from a real network carry full
        // checksums: make the client compute them, as a NIC would have.
        lab.client.run(&["ethtool", "-K", "eth0", "tx", "off"])?;
        lab.client.ip(&[
            "neigh",
            "replace",
            "198.51.100.10",
            "lladdr",
            LB_MAC,
            "dev",
            "eth0",
            "nud",
            "permanent",
        ])?;
        Ok(lab)
    }
}

/// The `ethtool -S` counters of `dev` in `ns` whose names contain "xdp".
fn xdp_stats(ns: &Netns, dev: &str) -> Result<Vec<(String, u64)>> {
    Ok(ns
        .run(&["ethtool", "-S", dev])?
        .lines()
        .filter_map(|l| l.trim().split_once(": "))
        .filter(|(k, _)| k.contains("xdp"))
        .filter_map(|(k, v)| Some((k.to_owned(), v.trim().parse().ok()?)))
        .collect())
}

fn stat(stats: &[(String, u64)], suffix: &str) -> u64 {
    stats
        .iter()
        .filter(|(k, _)| k.ends_with(suffix))
        .map(|(_, v)| v)
        .sum()
}

/// Where frames went, printed when traffic fails.
fn diagnostics(lab: &Lab, dp: &Dataplane) {
    let show = |ns: &Netns, program: &str, args: &[&str]| match ns.run(&[&[program], args].concat())
    {
        Ok(out) => println!("--- {} {program} {}:\n{out}", ns.name(), args.join(" ")),
        Err(e) => println!("--- {} {program}: {e:#}", ns.name()),
    };
    show(&lab.lb, "ethtool", &["-S", "eth0"]);
    show(&lab.switch, "ethtool", &["-S", "l0"]);
    show(&lab.switch, "ip", &["-s", "link", "show", "b0"]);
    show(&lab.backend, "ip", &["-s", "link", "show", "eth0"]);
    show(
        &lab.backend,
        "nstat",
        &[
            "-az",
            "TcpInCsumErrors",
            "TcpExtListenDrops",
            "IpInAddrErrors",
            "IpInDiscards",
        ],
    );
    show(&lab.client, "ip", &["neigh"]);
    show(&lab.backend, "ip", &["neigh"]);
    if let Ok(c) = dp.counters() {
        println!(
            "--- VIP_STATS[0] {:?}\n--- GLOBAL {:?}",
            c.vips[0], c.global
        );
    }
}

#[test]
fn native_attach_forwards_vip_connections_and_passes_the_rest() {
    let result = run();
    let left = netns::leftovers().unwrap_or_default();
    assert!(left.is_empty(), "namespaces left behind: {left:?}");
    result.unwrap();
}

fn run() -> Result<()> {
    // Declared first, dropped last: programs detach and servers stop before
    // the namespaces go.
    let lab = Lab::build().context("building the namespace lab")?;
    let mut dp = Dataplane::new().context("loading the program (root needed)")?;
    dp.add_vip(0, IpAddr::V4(VIP), 80, PROTO_TCP)?;
    dp.set_backend(1, STATE_ACTIVE)?;
    dp.publish(0, &[1])?;
    netns::run_in(&lab.lb, || {
        dp.program_mut()?
            .attach("eth0", XdpMode::Driver)
            .context("native attach to the lb veth")?;
        Ok(())
    })?;
    println!("attached lb natively to eth0 in {}", lab.lb.name());

    let backend_listener = netns::run_in(&lab.backend, || Ok(TcpListener::bind(("0.0.0.0", 80))?))?;
    let backend = LineServer::start(backend_listener, "hello from b1\n", TIMEOUT)?;
    let local_listener = netns::run_in(&lab.lb, || Ok(TcpListener::bind((LB_ADDR, 8080))?))?;
    let local = LineServer::start(local_listener, "hello from lb\n", TIMEOUT)?;
    let vip: SocketAddr = (VIP, 80).into();

    // Probe: native XDP_TX with nothing on the peer veth.
    let probe = netns::run_in(&lab.client, || request(vip, Duration::from_secs(1)));
    let tx_errors = stat(&xdp_stats(&lab.lb, "eth0")?, "xdp_tx_errors");
    println!(
        "probe without XDP on the peer veth: {} (lb eth0 xdp_tx_errors {tx_errors})",
        match &probe {
            Ok(r) => format!("answered {r:?}"),
            Err(e) => format!("failed: {e:#}"),
        }
    );

    let mut peer = Dataplane::new()?;
    netns::run_in(&lab.switch, || {
        peer.program_mut()?
            .attach("l0", XdpMode::Driver)
            .context("native attach to the peer veth")?;
        Ok(())
    })?;
    println!(
        "attached a pass-only instance (empty maps) natively to l0 in {}",
        lab.switch.name()
    );

    let before = dp.counters()?;
    let served_before = backend.served();
    let start = Instant::now();
    let vip_run = netns::run_in(&lab.client, || {
        for i in 0..CONNECTIONS {
            let reply = request(vip, TIMEOUT).with_context(|| format!("VIP connection {i}"))?;
            ensure!(
                reply == "hello from b1\n",
                "VIP connection {i} got {reply:?}"
            );
        }
        Ok(())
    });
    if let Err(e) = vip_run {
        diagnostics(&lab, &dp);
        return Err(e);
    }
    let vip_elapsed = start.elapsed();
    let global_before = dp.counters()?.global;
    netns::run_in(&lab.client, || {
        for i in 0..LOCAL_CONNECTIONS {
            let reply = request((LB_ADDR, 8080).into(), TIMEOUT)
                .with_context(|| format!("connection {i} to the LB's own address"))?;
            ensure!(
                reply == "hello from lb\n",
                "local connection {i} got {reply:?}"
            );
        }
        Ok(())
    })?;

    // The clients' FINs are sent as they close; give the last ones a moment.
    let deadline = Instant::now() + Duration::from_secs(2);
    let after = loop {
        let c = dp.counters()?;
        let closed = c.vips[0].closed_flows - before.vips[0].closed_flows;
        if closed >= CONNECTIONS || Instant::now() > deadline {
            break c;
        }
        thread::sleep(Duration::from_millis(20));
    };
    let d = |scope| {
        let (a, b) = (before.get(scope), after.get(scope));
        (
            b.packets - a.packets,
            b.bytes - a.bytes,
            b.new_flows - a.new_flows,
            b.closed_flows - a.closed_flows,
        )
    };
    let (vp, vb, vn, vc) = d(Scope::Vip(0));
    let (bp, bb, bn, bc) = d(Scope::Backend(1));
    let global_passed = after.global.packets - global_before.packets;
    let served = backend.served() - served_before;
    let flows = dp.flows()?;
    let closed_entries = flows
        .iter()
        .filter(|(_, f)| f.backend_id == 1 && f.flags & FLOW_F_FIN != 0)
        .count();
    let lb_stats = xdp_stats(&lab.lb, "eth0")?;
    println!(
        "{CONNECTIONS} VIP connections answered by b1 in {:.0} ms (b1 served {served})",
        vip_elapsed.as_secs_f64() * 1e3
    );
    println!("VIP_STATS[0]:     packets {vp}, bytes {vb}, new_flows {vn}, closed_flows {vc}");
    println!("BACKEND_STATS[1]: packets {bp}, bytes {bb}, new_flows {bn}, closed_flows {bc}");
    println!(
        "{LOCAL_CONNECTIONS} connections to the LB's own {LB_ADDR}:8080 answered; GLOBAL \
         passed packets during them: {global_passed}"
    );
    println!(
        "FLOWS: {} entries, {closed_entries} to b1 with FIN seen",
        flows.len()
    );
    println!("lb eth0 ethtool: {lb_stats:?}");

    ensure!(served == CONNECTIONS, "b1 served {served} of {CONNECTIONS}");
    ensure!(
        vn == CONNECTIONS,
        "VIP new_flows {vn}, expected {CONNECTIONS}"
    );
    ensure!(
        vc == CONNECTIONS,
        "VIP closed_flows {vc}, expected {CONNECTIONS}"
    );
    // Per connection at least: SYN, ACK, request, FIN (ACKs may merge with the FIN).
    ensure!(vp >= 4 * CONNECTIONS, "VIP packets {vp} < 4 per connection");
    ensure!(
        (bp, bb, bn, bc) == (vp, vb, vn, vc),
        "backend counters differ from the VIP's"
    );
    ensure!(
        stat(&lb_stats, "xdp_tx") >= vp,
        "the driver counted fewer XDP_TX than the program"
    );
    ensure!(
        stat(&lb_stats, "xdp_tx_errors") == tx_errors,
        "XDP_TX errors after the peer attach"
    );
    // Client to LB: SYN, ACK, request, FIN at least, each passed by the program.
    ensure!(
        global_passed >= 4 * LOCAL_CONNECTIONS,
        "GLOBAL packets moved by {global_passed} for {LOCAL_CONNECTIONS} local connections"
    );
    drop((backend, local));
    drop(peer);
    drop(dp);
    drop(lab);
    Ok(())
}
