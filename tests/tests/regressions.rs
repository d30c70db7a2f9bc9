//! Regression tests for bugs the XDP program (lb-ebpf) once had, each found by
//! a test written against its contract (ARCHITECTURE.md, the docs in lb-common)
//! before the fix. The doc comment of each test describes the bug as it was.

use lb_common::{
    backend::STATE_DOWN,
    flow::{FLOW_F_PAYLOAD, FlowInfo},
};
use lb_tests::{
    counters::{Field, Scope},
    packet::{ACK, CLIENT_MAC, Ext, Frame, SYN},
    standard::{self, CLIENT4, CLIENT6, OTHER6, Ports, VIP_TCP4, VIP_TCP6, VIP_UDP6, VIP4, VIP6},
    table::{self, Expect, FlowCheck, Row, Setup, key},
};

/// Bug 1. A truncated IPv6 packet to a VIP address is PASSED when an extension
/// header precedes the transport header, although its destination is known.
///
/// `try_ipv6` reports a frame shorter than the payload length as
/// `Malformed { dst, proto: next }` with `next` = the IPv6 header's Next Header,
/// which is the extension header's type (0, 43, 60, ...), not TCP/UDP; and
/// `ParseError::into_error` turns any non-TCP/UDP protocol into a plain `Pass`:
/// no drop, no VIP counter, not even GLOBAL drop_malformed. A cut inside the
/// extension header with a consistent payload length gives `Unparsable`
/// (PassMalformed) instead. Either way a malformed packet to a VIP reaches the
/// kernel, contrary to "malformed or truncated packets to a VIP are dropped and
/// counted" (ARCHITECTURE.md, flow 1, step 1).
#[test]
fn ipv6_truncated_behind_an_extension_header_to_a_vip_is_dropped() {
    let mut dp = standard::dataplane().expect("loading the program (root needed)");
    let mut ports = Ports::default();
    let hbh = |dst, p: &mut Ports| {
        Frame::tcp(CLIENT6, dst, p.any(), 443, SYN)
            .ext(Ext::HopByHop(vec![5, 2, 0, 0]))
            .build()
    };
    let (vip, lv) = hbh(VIP6, &mut ports);
    let (udp, lu) = Frame::udp(CLIENT6, VIP6, ports.any(), 53, b"q")
        .ext(Ext::DestOpts(vec![]))
        .build();
    let (other, lo) = hbh(OTHER6, &mut ports);
    // The same hop-by-hop SYN, cut after 1 byte of its extension header, with the
    // payload length saying so (1): a packet that is short, not truncated.
    let mut short = vip[..=lv.ext[0]].to_vec();
    short[lv.l3 + 4..lv.l3 + 6].copy_from_slice(&1u16.to_be_bytes());
    let drop = |desc: &str, input: Vec<u8>, vip| {
        Row::new(desc, input, Expect::Drop).delta(Scope::Vip(vip), Field::DropMalformed, 1)
    };
    let rows = [
        drop(
            "IPv6 SYN to the VIP, cut inside its hop-by-hop header: expected DROP",
            vip[..lv.ext[0] + 4].to_vec(),
            VIP_TCP6,
        ),
        drop(
            "IPv6 SYN to the VIP behind a hop-by-hop header, cut inside the TCP header: \
             expected DROP",
            vip[..lv.l4 + 10].to_vec(),
            VIP_TCP6,
        ),
        drop(
            "IPv6 UDP to the VIP behind a destination-options header, cut inside the UDP \
             header: expected DROP",
            udp[..lu.l4 + 4].to_vec(),
            VIP_UDP6,
        ),
        drop(
            "IPv6 SYN to the VIP whose payload length (1) ends inside its hop-by-hop header: \
             expected DROP",
            short,
            VIP_TCP6,
        ),
        Row::new(
            "IPv6 SYN to a non-VIP address, cut inside its hop-by-hop header: PASS, and \
             expected to count as malformed like every other truncated non-VIP packet",
            other[..lo.ext[0] + 4].to_vec(),
            Expect::Pass,
        )
        .passed(true),
    ];
    table::run_table(&mut dp, &rows);
}

/// Bug 2. GLOBAL bytes never moves: lb-common's `Counters::bytes` says
/// "Global: bytes passed", but `stats::count_error` adds only `packets` (and
/// `drop_malformed`) for passed frames.
#[test]
fn global_bytes_count_passed_frames() {
    let mut dp = standard::dataplane().expect("loading the program (root needed)");
    let arp = Frame::arp_request(CLIENT_MAC, [192, 0, 2, 1].into(), [198, 51, 100, 10].into())
        .pad_to(60)
        .bytes();
    let rows = [Row::new(
        "60-byte ARP request: PASS; expected GLOBAL packets +1 and bytes +60",
        arp,
        Expect::Pass,
    )
    .passed(false)];
    table::run_table(&mut dp, &rows);
}

/// Bug 3 (minor). `repicked` ("VIP: flows moved off a DOWN backend") also counts
/// packets that could not be moved: a flow on a DOWN backend whose VIP has no
/// backend left is dropped (drop_no_backend), its entry still names the DOWN
/// backend, yet repicked +1 — again on every later packet of that flow.
#[test]
fn repicked_counts_only_flows_that_moved() {
    let mut dp = standard::dataplane().expect("loading the program (root needed)");
    let port = Ports::default().any();
    let k = key(CLIENT4, VIP4, port, 80, lb_common::vip::PROTO_TCP);
    let pinned = FlowInfo {
        backend_id: 1,
        flags: FLOW_F_PAYLOAD,
        created_ns: 1,
        last_seen_ns: 1,
        ..FlowInfo::default()
    };
    let ack = Frame::tcp(CLIENT4, VIP4, port, 80, ACK).bytes();
    let rows = [Row::new(
        "flow on backend 1, backend 1 DOWN, table empty: DROP (drop_no_backend); the flow \
         did not move, so repicked is expected to stay 0",
        ack,
        Expect::Drop,
    )
    .setup(Setup::InsertFlow(k, pinned))
    .setup(Setup::Backend(1, STATE_DOWN))
    .setup(Setup::Publish(VIP_TCP4, vec![]))
    .delta(Scope::Vip(VIP_TCP4), Field::DropNoBackend, 1)
    .flow(
        k,
        FlowCheck::Entry {
            backend: 1,
            flags: FLOW_F_PAYLOAD,
        },
    )];
    table::run_table(&mut dp, &rows);
}
