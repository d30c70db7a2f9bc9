//! Rows: both directions translated, IPv4 and IPv6, TCP and UDP; REDIRECT
//! to the other interface, TX out of the one the frame came in on; a flow
//! keeps its translation through a drain; the server's FIN reaches the
//! client's flow entry; a flow re-picked off a DOWN backend gets a new
//! translation and the old one stops translating.

use lb_common::{
    backend::{STATE_ACTIVE, STATE_DOWN, STATE_DRAINING},
    flow::{FLOW_F_NAT, FLOW_F_PAYLOAD, FLOW_F_SERVER_FIN},
    vip::{PROTO_TCP, PROTO_UDP},
};
use lb_tests::{
    counters::{Field, Scope},
    dataplane::{Dataplane, XDP_PASS, XDP_REDIRECT, XDP_TX, backend_mac},
    nat::{self, NAT4, NAT6, NatLab, NatRow, PORT_MAX, PORT_MIN},
    packet::{ACK, CLIENT_MAC, FIN, Frame, LB_MAC, PSH, SYN},
    standard::{CLIENT4, CLIENT6, VIP4, VIP6},
    table::{FlowCheck, key},
};

use super::{B1, B2, B3, B4, B7, V_TCP4, V_TCP6, V_UDP4, V_UDP6, alloc_port};

/// The frame a backend's reply becomes: from the VIP, to the client's MAC,
/// out of the client-side interface.
fn to_client(lab: &NatLab, f: Frame) -> Vec<u8> {
    f.macs(CLIENT_MAC, lab.client_if_mac).bytes()
}

/// The frame a request becomes: to backend `id`'s MAC, out of the
/// backend-side interface.
fn to_backend(lab: &NatLab, id: u32, f: Frame) -> Vec<u8> {
    f.macs(backend_mac(id), lab.backend_if_mac).bytes()
}

/// A backend's frame to the balancer.
fn from_backend(id: u32, f: Frame) -> Vec<u8> {
    f.macs(LB_MAC, backend_mac(id)).bytes()
}

pub fn run(lab: &NatLab, dp: &mut Dataplane) -> anyhow::Result<usize> {
    let (ci, bi) = (lab.client_if, lab.backend_if);
    let req = b"GET / HTTP/1.1\r\n\r\n";
    let resp = b"HTTP/1.1 200 OK\r\n\r\n";

    // IPv4 TCP: one connection.
    let a = 40000;
    let k = key(CLIENT4, VIP4, a, 80, PROTO_TCP);
    let n = alloc_port(&k, PORT_MIN, PORT_MAX, &[]).expect("a free port");
    let data = Frame::tcp(CLIENT4, VIP4, a, 80, ACK | PSH).payload(req);
    let mut rows = vec![
        NatRow::new(
            format!(
                "IPv4 SYN 192.0.2.1:{a} -> 198.51.100.10:80 (NAT VIP): becomes 203.0.113.2:{n} -> \
                 203.0.113.11:8000, checksums updated, REDIRECT to the backends' interface with the FIB's MACs"
            ),
            Frame::tcp(CLIENT4, VIP4, a, 80, SYN).bytes(),
            ci,
            XDP_REDIRECT,
        )
        .output(to_backend(lab, 1, Frame::tcp(NAT4, B1, n, 8000, SYN)))
        .request(V_TCP4, 1)
        .both(V_TCP4, 1, Field::NewFlows, 1)
        .flow(k, FlowCheck::Handshake { backend: 1 }),
        NatRow::new(
            format!(
                "(after) the backend's SYN-ACK 203.0.113.11:8000 -> 203.0.113.2:{n}: becomes \
                 198.51.100.10:80 -> 192.0.2.1:{a}, REDIRECT to the client's interface"
            ),
            from_backend(1, Frame::tcp(B1, NAT4, 8000, n, SYN | ACK)),
            bi,
            XDP_REDIRECT,
        )
        .output(to_client(lab, Frame::tcp(VIP4, CLIENT4, 80, a, SYN | ACK)))
        .reply(V_TCP4, 1),
        NatRow::new(
            "(after) the client's request: the same translation, the flow entry made",
            data.bytes(),
            ci,
            XDP_REDIRECT,
        )
        .output(to_backend(
            lab,
            1,
            Frame::tcp(NAT4, B1, n, 8000, ACK | PSH).payload(req),
        ))
        .request(V_TCP4, 1)
        .delta(Scope::Vip(V_TCP4), Field::Confirmed, 1)
        .flow(k, FlowCheck::Entry { backend: 1, flags: FLOW_F_PAYLOAD }),
        NatRow::new(
            "(after) the response: translated back; the flow entry learns it is NAT",
            from_backend(1, Frame::tcp(B1, NAT4, 8000, n, ACK | PSH).payload(resp)),
            bi,
            XDP_REDIRECT,
        )
        .output(to_client(
            lab,
            Frame::tcp(VIP4, CLIENT4, 80, a, ACK | PSH).payload(resp),
        ))
        .reply(V_TCP4, 1)
        .flow(k, FlowCheck::Entry { backend: 1, flags: FLOW_F_PAYLOAD | FLOW_F_NAT }),
    ];

    // IPv4 UDP, both ways; then one arriving on the backends' interface
    // (TX), and one without a checksum (it stays without).
    let u = 40001;
    let ku = key(CLIENT4, VIP4, u, 53, PROTO_UDP);
    let nu = alloc_port(&ku, PORT_MIN, PORT_MAX, &[]).expect("a free port");
    let u2 = 40002;
    let ku2 = key(CLIENT4, VIP4, u2, 53, PROTO_UDP);
    let nu2 = alloc_port(&ku2, PORT_MIN, PORT_MAX, &[nu]).expect("a free port");
    let u3 = 40003;
    let ku3 = key(CLIENT4, VIP4, u3, 53, PROTO_UDP);
    let nu3 = alloc_port(&ku3, PORT_MIN, PORT_MAX, &[nu, nu2]).expect("a free port");
    let no_csum = |mut b: Vec<u8>| {
        b[14 + 20 + 6] = 0;
        b[14 + 20 + 7] = 0;
        b
    };
    rows.extend([
        NatRow::new(
            format!("IPv4 UDP 192.0.2.1:{u} -> 198.51.100.10:53: becomes 203.0.113.2:{nu} -> 203.0.113.12:5353"),
            Frame::udp(CLIENT4, VIP4, u, 53, b"query").bytes(),
            ci,
            XDP_REDIRECT,
        )
        .output(to_backend(lab, 2, Frame::udp(NAT4, B2, nu, 5353, b"query")))
        .request(V_UDP4, 2)
        .both(V_UDP4, 2, Field::NewFlows, 1)
        .flow(ku, FlowCheck::Entry { backend: 2, flags: FLOW_F_PAYLOAD }),
        NatRow::new(
            "(after) its answer: translated back",
            from_backend(2, Frame::udp(B2, NAT4, 5353, nu, b"answer")),
            bi,
            XDP_REDIRECT,
        )
        .output(to_client(lab, Frame::udp(VIP4, CLIENT4, 53, u, b"answer")))
        .reply(V_UDP4, 2)
        .flow(ku, FlowCheck::Entry { backend: 2, flags: FLOW_F_PAYLOAD | FLOW_F_NAT }),
        NatRow::new(
            format!(
                "IPv4 UDP from port {u2}, arriving on the backends' interface: the route to the backend \
                 leaves by the same one, XDP_TX; another source port ({nu2}) for the same backend"
            ),
            Frame::udp(CLIENT4, VIP4, u2, 53, b"q2").bytes(),
            bi,
            XDP_TX,
        )
        .output(to_backend(lab, 2, Frame::udp(NAT4, B2, nu2, 5353, b"q2")))
        .request(V_UDP4, 2)
        .both(V_UDP4, 2, Field::NewFlows, 1),
        NatRow::new(
            format!("IPv4 UDP without a checksum (0) from port {u3}: translated, still without one"),
            no_csum(Frame::udp(CLIENT4, VIP4, u3, 53, b"q3").bytes()),
            ci,
            XDP_REDIRECT,
        )
        .output(no_csum(to_backend(lab, 2, Frame::udp(NAT4, B2, nu3, 5353, b"q3"))))
        .request(V_UDP4, 2)
        .both(V_UDP4, 2, Field::NewFlows, 1),
    ]);

    // IPv6 TCP and UDP.
    let s6 = 40004;
    let k6 = key(CLIENT6, VIP6, s6, 443, PROTO_TCP);
    let n6 = alloc_port(&k6, PORT_MIN, PORT_MAX, &[]).expect("a free port");
    let ku6 = key(CLIENT6, VIP6, s6, 53, PROTO_UDP);
    let nu6 = alloc_port(&ku6, PORT_MIN, PORT_MAX, &[]).expect("a free port");
    rows.extend([
        NatRow::new(
            format!(
                "IPv6 SYN [2001:db8:c::1]:{s6} -> [2001:db8::10]:443: becomes [2001:db8:b::2]:{n6} -> \
                 [2001:db8:b::13]:8443"
            ),
            Frame::tcp(CLIENT6, VIP6, s6, 443, SYN).bytes(),
            ci,
            XDP_REDIRECT,
        )
        .output(to_backend(lab, 3, Frame::tcp(NAT6, B3, n6, 8443, SYN)))
        .request(V_TCP6, 3)
        .both(V_TCP6, 3, Field::NewFlows, 1)
        .flow(k6, FlowCheck::Handshake { backend: 3 }),
        NatRow::new(
            "(after) the IPv6 SYN-ACK: translated back",
            from_backend(3, Frame::tcp(B3, NAT6, 8443, n6, SYN | ACK)),
            bi,
            XDP_REDIRECT,
        )
        .output(to_client(lab, Frame::tcp(VIP6, CLIENT6, 443, s6, SYN | ACK)))
        .reply(V_TCP6, 3),
        NatRow::new(
            format!("IPv6 UDP to [2001:db8::10]:53: becomes [2001:db8:b::2]:{nu6} -> [2001:db8:b::14]:5353"),
            Frame::udp(CLIENT6, VIP6, s6, 53, b"query6").bytes(),
            ci,
            XDP_REDIRECT,
        )
        .output(to_backend(lab, 4, Frame::udp(NAT6, B4, nu6, 5353, b"query6")))
        .request(V_UDP6, 4)
        .both(V_UDP6, 4, Field::NewFlows, 1),
        NatRow::new(
            "(after) its IPv6 answer: translated back",
            from_backend(4, Frame::udp(B4, NAT6, 5353, nu6, b"answer6")),
            bi,
            XDP_REDIRECT,
        )
        .output(to_client(lab, Frame::udp(VIP6, CLIENT6, 53, s6, b"answer6")))
        .reply(V_UDP6, 4),
    ]);
    let mut count = nat::run_rows(dp, &rows);

    // Backend 1 drains: the IPv4 connection keeps its backend and its
    // translation, and the server's FIN is noted on the client's entry.
    nat::set_backend(dp, 1, B1, 8000, STATE_DRAINING)?;
    let drained = [
        NatRow::new(
            format!("(after) backend 1 DRAINING: the client's ACK keeps backend 1 and port {n}"),
            Frame::tcp(CLIENT4, VIP4, a, 80, ACK).bytes(),
            ci,
            XDP_REDIRECT,
        )
        .output(to_backend(lab, 1, Frame::tcp(NAT4, B1, n, 8000, ACK)))
        .request(V_TCP4, 1),
        NatRow::new(
            "(after) the draining backend's FIN: translated; FLOW_F_SERVER_FIN on the client's entry",
            from_backend(1, Frame::tcp(B1, NAT4, 8000, n, FIN | ACK)),
            bi,
            XDP_REDIRECT,
        )
        .output(to_client(lab, Frame::tcp(VIP4, CLIENT4, 80, a, FIN | ACK)))
        .reply(V_TCP4, 1)
        .flow(
            k,
            FlowCheck::Entry {
                backend: 1,
                flags: FLOW_F_PAYLOAD | FLOW_F_NAT | FLOW_F_SERVER_FIN,
            },
        ),
    ];
    count += nat::run_rows(dp, &drained);

    // Backend 1 taken DOWN (`lb disable`), backend 8 (at 203.0.113.17) the
    // live table: the connection is re-picked and gets a new translation;
    // the old one's replies are no longer translated.
    nat::set_backend(dp, 1, B1, 8000, STATE_DOWN)?;
    nat::set_backend(dp, 8, B7, 8000, STATE_ACTIVE)?;
    dp.publish(V_TCP4, &[8])?;
    let moved = alloc_port(&k, PORT_MIN, PORT_MAX, &[]).expect("a free port");
    let repicked = [
        NatRow::new(
            format!(
                "(after) backend 1 DOWN, live table [8]: the ACK is re-picked to backend 8 (203.0.113.17:8000) with a new translation, port {moved}"
            ),
            Frame::tcp(CLIENT4, VIP4, a, 80, ACK).bytes(),
            ci,
            XDP_REDIRECT,
        )
        .output(
            Frame::tcp(NAT4, B7, moved, 8000, ACK)
                .macs(backend_mac(7), lab.backend_if_mac)
                .bytes(),
        )
        .request(V_TCP4, 8)
        .both(V_TCP4, 8, Field::NewFlows, 1)
        .delta(Scope::Vip(V_TCP4), Field::Repicked, 1),
        NatRow::new(
            format!("(after) a late reply of the old translation (port {n}): no longer translated, PASS"),
            from_backend(1, Frame::tcp(B1, NAT4, 8000, n, ACK)),
            bi,
            XDP_PASS,
        )
        .passed()
        .delta(Scope::Global, Field::NatUntranslated, 1),
    ];
    count += nat::run_rows(dp, &repicked);
    nat::set_backend(dp, 1, B1, 8000, STATE_ACTIVE)?;
    dp.clear_backend(8)?;
    dp.publish(V_TCP4, &[1])?;
    Ok(count)
}
