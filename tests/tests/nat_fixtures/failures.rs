//! Rows: what is not translated (no translation, not a NAT source, not the
//! NAT range, malformed), a next hop without a neighbour entry (passed to the
//! kernel), no route (dropped), and source ports running out for one
//! backend while other flows go on.

use lb_common::{flow::FLOW_F_PAYLOAD, vip::PROTO_TCP};
use lb_tests::{
    counters::{Field, Scope},
    dataplane::{Dataplane, XDP_DROP, XDP_PASS, XDP_REDIRECT, backend_mac},
    nat::{self, NAT4, NatLab, NatRow, PORT_MAX, PORT_MIN},
    packet::{ACK, Frame, LB_MAC, SYN},
    standard::{CLIENT4, VIP4},
    table::{FlowCheck, key},
};

use super::{
    B1, B5, B6, B7, V_NO_NEIGH, V_NO_ROUTE, V_SMALL, V_TCP4, VIP_NO_NEIGH, VIP_NO_ROUTE, VIP_SMALL,
    alloc_port,
};

fn from_backend(id: u32, f: Frame) -> Vec<u8> {
    f.macs(LB_MAC, backend_mac(id)).bytes()
}

pub fn rows(lab: &NatLab) -> Vec<NatRow> {
    let (ci, bi) = (lab.client_if, lab.backend_if);
    // A port of the range no translation holds (the translation rows took
    // a handful out of a thousand).
    let free = (PORT_MIN..=PORT_MAX)
        .rev()
        .find(|p| {
            ![40000u16, 40001, 40002, 40003].iter().any(|&c| {
                [(80, PROTO_TCP), (53, 17)].iter().any(|&(vp, pr)| {
                    alloc_port(&key(CLIENT4, VIP4, c, vp, pr), PORT_MIN, PORT_MAX, &[]) == Some(*p)
                })
            })
        })
        .expect("a free port");
    let reply = from_backend(1, Frame::tcp(B1, NAT4, 8000, free, ACK));
    let mut truncated = reply.clone();
    truncated.truncate(14 + 20 + 10);
    let mut short_ihl = reply.clone();
    short_ihl[14] = 0x44;
    let mut short_doff = reply.clone();
    short_doff[14 + 20 + 12] = 0x40;
    let other = std::net::IpAddr::V4(std::net::Ipv4Addr::new(203, 0, 113, 99));
    let nn = key(CLIENT4, VIP_NO_NEIGH, 40010, 80, PROTO_TCP);
    let nn_port = alloc_port(&nn, PORT_MIN, PORT_MAX, &[]).expect("a free port");
    let nr = key(CLIENT4, VIP_NO_ROUTE, 40011, 80, PROTO_TCP);
    let nr_port = alloc_port(&nr, PORT_MIN, PORT_MAX, &[]).expect("a free port");
    vec![
        NatRow::new(
            format!(
                "a backend's packet to 203.0.113.2:{free} (NAT source, NAT range) with no translation: \
                 PASS untouched (maybe the host's own), counted nat_untranslated"
            ),
            reply.clone(),
            bi,
            XDP_PASS,
        )
        .passed()
        .delta(Scope::Global, Field::NatUntranslated, 1),
        NatRow::new(
            "a packet to 203.0.113.2:22 (NAT source, below the NAT range): PASS untouched, not counted as NAT",
            from_backend(1, Frame::tcp(B1, NAT4, 8000, 22, ACK)),
            bi,
            XDP_PASS,
        )
        .passed(),
        NatRow::new(
            format!("a packet to 203.0.113.99:{free} (not a NAT source, NAT range): PASS untouched, not counted as NAT"),
            from_backend(1, Frame::tcp(B1, other, 8000, free, ACK)),
            bi,
            XDP_PASS,
        )
        .passed(),
        NatRow::new(
            "a reply cut inside its TCP header: PASS untouched, counted malformed (global), as any non-VIP packet",
            truncated,
            bi,
            XDP_PASS,
        )
        .passed()
        .delta(Scope::Global, Field::DropMalformed, 1),
        NatRow::new(
            "a reply whose IPv4 header length says 16 bytes: PASS untouched, counted malformed",
            short_ihl,
            bi,
            XDP_PASS,
        )
        .passed()
        .delta(Scope::Global, Field::DropMalformed, 1),
        NatRow::new(
            "a reply whose TCP data offset says 16 bytes: PASS untouched, counted malformed",
            short_doff,
            bi,
            XDP_PASS,
        )
        .passed()
        .delta(Scope::Global, Field::DropMalformed, 1),
        NatRow::new(
            format!(
                "SYN to 198.51.100.20:80, backend 203.0.113.50 has no neighbour entry: translated \
                 (203.0.113.2:{nn_port} -> 203.0.113.50:8000, MACs untouched) and PASSED for the kernel \
                 to forward and resolve; counted nat_no_neigh"
            ),
            Frame::tcp(CLIENT4, VIP_NO_NEIGH, 40010, 80, SYN).bytes(),
            ci,
            XDP_PASS,
        )
        .output(Frame::tcp(NAT4, B5, nn_port, 8000, SYN).bytes())
        .both(V_NO_NEIGH, 5, Field::NewFlows, 1)
        .delta(Scope::Vip(V_NO_NEIGH), Field::NatNoNeigh, 1),
        NatRow::new(
            format!(
                "SYN to 198.51.100.30:80, no route to backend 198.51.100.200: translated \
                 (source port {nr_port}), then DROPPED, counted nat_no_route"
            ),
            Frame::tcp(CLIENT4, VIP_NO_ROUTE, 40011, 80, SYN).bytes(),
            ci,
            XDP_DROP,
        )
        .output(Frame::tcp(NAT4, B6, nr_port, 8000, SYN).bytes())
        .both(V_NO_ROUTE, 6, Field::NewFlows, 1)
        .delta(Scope::Vip(V_NO_ROUTE), Field::NatNoRoute, 1),
    ]
}

/// The range shrinks to two ports: two flows to backend 7 take them, a
/// third is dropped and counted, the first goes on, and a new flow to
/// another backend still gets a port.
pub fn exhaustion(lab: &NatLab, dp: &mut Dataplane) -> anyhow::Result<usize> {
    let (min, max) = (61000, 61001);
    nat::set_config(dp, nat::config(min, max))?;
    let ci = lab.client_if;
    let to7 = |f: Frame| f.macs(backend_mac(7), lab.backend_if_mac).bytes();
    let ka = key(CLIENT4, VIP_SMALL, 40020, 80, PROTO_TCP);
    let kb = key(CLIENT4, VIP_SMALL, 40021, 80, PROTO_TCP);
    let kc = key(CLIENT4, VIP_SMALL, 40022, 80, PROTO_TCP);
    let pa = alloc_port(&ka, min, max, &[]).expect("a free port");
    let pb = alloc_port(&kb, min, max, &[pa]).expect("a free port");
    // Backend 1 holds no port now (its one connection moved off it).
    let kd = key(CLIENT4, VIP4, 40023, 80, PROTO_TCP);
    let pd = alloc_port(&kd, min, max, &[]).expect("a free port");
    let rows = [
        NatRow::new(
            format!("NAT range now {min}-{max}: a SYN to 198.51.100.40:80 (backend 7) takes port {pa}"),
            Frame::tcp(CLIENT4, VIP_SMALL, 40020, 80, SYN).bytes(),
            ci,
            XDP_REDIRECT,
        )
        .output(to7(Frame::tcp(NAT4, B7, pa, 8000, SYN)))
        .request(V_SMALL, 7)
        .both(V_SMALL, 7, Field::NewFlows, 1),
        NatRow::new(
            format!("(after) a second flow to backend 7 takes the other port, {pb}"),
            Frame::tcp(CLIENT4, VIP_SMALL, 40021, 80, SYN).bytes(),
            ci,
            XDP_REDIRECT,
        )
        .output(to7(Frame::tcp(NAT4, B7, pb, 8000, SYN)))
        .request(V_SMALL, 7)
        .both(V_SMALL, 7, Field::NewFlows, 1),
        NatRow::new(
            "(after) a third flow to backend 7: no port left, DROPPED untouched, counted nat_no_port",
            Frame::tcp(CLIENT4, VIP_SMALL, 40022, 80, SYN).bytes(),
            ci,
            XDP_DROP,
        )
        .both(V_SMALL, 7, Field::NewFlows, 1)
        .delta(Scope::Vip(V_SMALL), Field::NatNoPort, 1)
        .flow(kc, FlowCheck::Handshake { backend: 7 }),
        NatRow::new(
            format!("(after) the first flow's request: unharmed, still port {pa}"),
            Frame::tcp(CLIENT4, VIP_SMALL, 40020, 80, ACK).payload(b"GET /").bytes(),
            ci,
            XDP_REDIRECT,
        )
        .output(to7(Frame::tcp(NAT4, B7, pa, 8000, ACK).payload(b"GET /")))
        .request(V_SMALL, 7)
        .delta(Scope::Vip(V_SMALL), Field::Confirmed, 1)
        .flow(ka, FlowCheck::Entry { backend: 7, flags: FLOW_F_PAYLOAD }),
        NatRow::new(
            format!("(after) a new flow to backend 1 (its own ports): takes port {pd}"),
            Frame::tcp(CLIENT4, VIP4, 40023, 80, SYN).bytes(),
            ci,
            XDP_REDIRECT,
        )
        .output(
            Frame::tcp(NAT4, B1, pd, 8000, SYN)
                .macs(backend_mac(1), lab.backend_if_mac)
                .bytes(),
        )
        .request(V_TCP4, 1)
        .both(V_TCP4, 1, Field::NewFlows, 1)
        .flow(kd, FlowCheck::Handshake { backend: 1 }),
    ];
    let n = nat::run_rows(dp, &rows);
    nat::set_config(dp, nat::config(PORT_MIN, PORT_MAX))?;
    Ok(n)
}
