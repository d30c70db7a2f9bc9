//! DNAT rows (`forward = "dnat"`): only the destination is translated, so
//! the backend sees the client; its replies, which come back through the
//! balancer (the backends' gateway), get the VIP back as their source.
//! IPv4 and IPv6, TCP and UDP, both directions, REDIRECT by the FIB; the
//! server's FIN reaches the client's flow entry; a second VIP that would
//! send the same client address and port to the same backend:port is
//! refused (dropped, counted `nat_no_port`) and the first flow's replies
//! stay its own; a reply with no translation passes untouched.
//!
//! Expected frames come from the packet builder (checksums from scratch),
//! and the runner verifies the output's checksums over its bytes again.

use std::net::IpAddr;

use lb_common::{
    backend::STATE_ACTIVE,
    flow::{FLOW_F_NAT, FLOW_F_PAYLOAD, FLOW_F_SERVER_FIN},
    nat::{NAT_CFG_NO_DNAT, NatConfig},
    vip::{PROTO_TCP, PROTO_UDP},
};
use lb_tests::{
    counters::{Field, Scope},
    dataplane::{Dataplane, XDP_DROP, XDP_PASS, XDP_REDIRECT, backend_mac},
    dnat,
    nat::{self, NatLab, NatRow},
    packet::{ACK, CLIENT_MAC, FIN, Frame, LB_MAC, PSH, SYN},
    standard::{CLIENT4, CLIENT6, VIP4, VIP6},
    table::{FlowCheck, key},
};

use super::{B1, B2, B3, B4};

/// The DNAT VIPs, in a data plane of their own.
pub const D_TCP4: u32 = 0;
pub const D_UDP4: u32 = 1;
pub const D_TCP6: u32 = 2;
pub const D_UDP6: u32 = 3;
/// A second IPv4 TCP DNAT VIP whose backend is the same 203.0.113.11:9000.
pub const D_TWIN: u32 = 4;

/// (vip id, VIP address, VIP port, protocol, backend id, backend address,
/// backend port, the id whose neighbour entry (MAC) the address has).
type DnatVip = (u32, IpAddr, u16, u8, u32, IpAddr, u16, u32);

const DNAT_VIPS: [DnatVip; 5] = [
    (D_TCP4, VIP4, 8080, PROTO_TCP, 11, B1, 9000, 1),
    (D_UDP4, VIP4, 5300, PROTO_UDP, 12, B2, 9053, 2),
    (D_TCP6, VIP6, 8080, PROTO_TCP, 13, B3, 9443, 3),
    (D_UDP6, VIP6, 5300, PROTO_UDP, 14, B4, 9053, 4),
    (D_TWIN, VIP4, 8081, PROTO_TCP, 15, B1, 9000, 1),
];

/// A data plane with the DNAT VIPs only, as user space writes it for a
/// config without NAT VIPs: NAT's port range off, the reuse delay set.
fn dataplane() -> anyhow::Result<Dataplane> {
    let mut dp = Dataplane::new()?;
    for (vip, addr, port, proto, id, b, bport, _) in DNAT_VIPS {
        nat::add_vip(&mut dp, vip, addr, port, proto)?;
        dnat::set_backend(&mut dp, id, b, bport, proto, STATE_ACTIVE)?;
        dp.publish(vip, &[id])?;
    }
    nat::set_config(&mut dp, config())?;
    Ok(dp)
}

/// Runs the DNAT rows in the NAT fixtures' namespace.
pub fn run(lab: &NatLab) -> anyhow::Result<usize> {
    let mut dp = dataplane()?;
    let (ci, bi) = (lab.client_if, lab.backend_if);
    // What a request becomes: to the backend's MAC, out of the backends' side.
    let to_backend =
        |mac_of: u32, f: Frame| f.macs(backend_mac(mac_of), lab.backend_if_mac).bytes();
    let to_client = |f: Frame| f.macs(CLIENT_MAC, lab.client_if_mac).bytes();
    let from_backend = |mac_of: u32, f: Frame| f.macs(LB_MAC, backend_mac(mac_of)).bytes();
    let req = b"GET / HTTP/1.1\r\n\r\n";
    let resp = b"HTTP/1.1 200 OK\r\n\r\n";

    let a = 41000;
    let k = key(CLIENT4, VIP4, a, 8080, PROTO_TCP);
    let ktwin = key(CLIENT4, VIP4, a, 8081, PROTO_TCP);
    let mut rows = vec![
        NatRow::new(
            format!(
                "DNAT: IPv4 SYN 192.0.2.1:{a} -> 198.51.100.10:8080 becomes 192.0.2.1:{a} -> \
                 203.0.113.11:9000 (the client's address and port kept), REDIRECT to the backends' side"
            ),
            Frame::tcp(CLIENT4, VIP4, a, 8080, SYN).bytes(),
            ci,
            XDP_REDIRECT,
        )
        .output(to_backend(1, Frame::tcp(CLIENT4, B1, a, 9000, SYN)))
        .request(D_TCP4, 11)
        .both(D_TCP4, 11, Field::NewFlows, 1)
        .flow(k, FlowCheck::Handshake { backend: 11 }),
        NatRow::new(
            format!(
                "(after) the backend's SYN-ACK 203.0.113.11:9000 -> 192.0.2.1:{a} (routed back by the \
                 balancer) becomes 198.51.100.10:8080 -> 192.0.2.1:{a}, REDIRECT to the client's side"
            ),
            from_backend(1, Frame::tcp(B1, CLIENT4, 9000, a, SYN | ACK)),
            bi,
            XDP_REDIRECT,
        )
        .output(to_client(Frame::tcp(VIP4, CLIENT4, 8080, a, SYN | ACK)))
        .reply(D_TCP4, 11),
        NatRow::new(
            "(after) the client's request: the same translation, the flow entry made",
            Frame::tcp(CLIENT4, VIP4, a, 8080, ACK | PSH).payload(req).bytes(),
            ci,
            XDP_REDIRECT,
        )
        .output(to_backend(1, Frame::tcp(CLIENT4, B1, a, 9000, ACK | PSH).payload(req)))
        .request(D_TCP4, 11)
        .delta(Scope::Vip(D_TCP4), Field::Confirmed, 1)
        .flow(k, FlowCheck::Entry { backend: 11, flags: FLOW_F_PAYLOAD }),
        NatRow::new(
            "(after) the response: translated back; the flow entry learns it is translated",
            from_backend(1, Frame::tcp(B1, CLIENT4, 9000, a, ACK | PSH).payload(resp)),
            bi,
            XDP_REDIRECT,
        )
        .output(to_client(Frame::tcp(VIP4, CLIENT4, 8080, a, ACK | PSH).payload(resp)))
        .reply(D_TCP4, 11)
        .flow(k, FlowCheck::Entry { backend: 11, flags: FLOW_F_PAYLOAD | FLOW_F_NAT }),
        NatRow::new(
            format!(
                "(after) collision: 192.0.2.1:{a} -> 198.51.100.10:8081, another DNAT VIP with the same \
                 backend 203.0.113.11:9000: its replies could not be told apart, DROPPED untouched, \
                 counted nat_no_port"
            ),
            Frame::tcp(CLIENT4, VIP4, a, 8081, SYN).bytes(),
            ci,
            XDP_DROP,
        )
        .both(D_TWIN, 15, Field::NewFlows, 1)
        .delta(Scope::Vip(D_TWIN), Field::NatNoPort, 1)
        .flow(ktwin, FlowCheck::Handshake { backend: 15 }),
        NatRow::new(
            "(after) the backend's next segment to that client address and port: still the first \
             flow's, from 198.51.100.10:8080",
            from_backend(1, Frame::tcp(B1, CLIENT4, 9000, a, ACK)),
            bi,
            XDP_REDIRECT,
        )
        .output(to_client(Frame::tcp(VIP4, CLIENT4, 8080, a, ACK)))
        .reply(D_TCP4, 11),
        NatRow::new(
            "(after) the server's FIN: translated; FLOW_F_SERVER_FIN on the client's entry",
            from_backend(1, Frame::tcp(B1, CLIENT4, 9000, a, FIN | ACK)),
            bi,
            XDP_REDIRECT,
        )
        .output(to_client(Frame::tcp(VIP4, CLIENT4, 8080, a, FIN | ACK)))
        .reply(D_TCP4, 11)
        .flow(
            k,
            FlowCheck::Entry {
                backend: 11,
                flags: FLOW_F_PAYLOAD | FLOW_F_NAT | FLOW_F_SERVER_FIN,
            },
        ),
        NatRow::new(
            "a segment from the DNAT backend's port to a client address and port it has no \
             translation for: PASSED untouched (the kernel routes it; the client drops it)",
            from_backend(1, Frame::tcp(B1, CLIENT4, 9000, 41999, ACK)),
            bi,
            XDP_PASS,
        )
        .passed(),
    ];

    // UDP, IPv4 (with and without a checksum) and IPv6; IPv6 TCP.
    let u = 41001;
    let no_csum = |mut b: Vec<u8>| {
        b[14 + 20 + 6] = 0;
        b[14 + 20 + 7] = 0;
        b
    };
    let s6 = 41002;
    let k6 = key(CLIENT6, VIP6, s6, 8080, PROTO_TCP);
    rows.extend([
        NatRow::new(
            format!("DNAT: IPv4 UDP 192.0.2.1:{u} -> 198.51.100.10:5300 becomes 192.0.2.1:{u} -> 203.0.113.12:9053"),
            Frame::udp(CLIENT4, VIP4, u, 5300, b"query").bytes(),
            ci,
            XDP_REDIRECT,
        )
        .output(to_backend(2, Frame::udp(CLIENT4, B2, u, 9053, b"query")))
        .request(D_UDP4, 12)
        .both(D_UDP4, 12, Field::NewFlows, 1),
        NatRow::new(
            "(after) its answer: from 198.51.100.10:5300",
            from_backend(2, Frame::udp(B2, CLIENT4, 9053, u, b"answer")),
            bi,
            XDP_REDIRECT,
        )
        .output(to_client(Frame::udp(VIP4, CLIENT4, 5300, u, b"answer")))
        .reply(D_UDP4, 12),
        NatRow::new(
            "(after) an answer without a checksum (0): translated, still without one",
            no_csum(from_backend(2, Frame::udp(B2, CLIENT4, 9053, u, b"again"))),
            bi,
            XDP_REDIRECT,
        )
        .output(no_csum(to_client(Frame::udp(VIP4, CLIENT4, 5300, u, b"again"))))
        .reply(D_UDP4, 12),
        NatRow::new(
            format!(
                "DNAT: IPv6 SYN [2001:db8:c::1]:{s6} -> [2001:db8::10]:8080 becomes [2001:db8:c::1]:{s6} -> \
                 [2001:db8:b::13]:9443"
            ),
            Frame::tcp(CLIENT6, VIP6, s6, 8080, SYN).bytes(),
            ci,
            XDP_REDIRECT,
        )
        .output(to_backend(3, Frame::tcp(CLIENT6, B3, s6, 9443, SYN)))
        .request(D_TCP6, 13)
        .both(D_TCP6, 13, Field::NewFlows, 1)
        .flow(k6, FlowCheck::Handshake { backend: 13 }),
        NatRow::new(
            "(after) the IPv6 SYN-ACK: from [2001:db8::10]:8080",
            from_backend(3, Frame::tcp(B3, CLIENT6, 9443, s6, SYN | ACK)),
            bi,
            XDP_REDIRECT,
        )
        .output(to_client(Frame::tcp(VIP6, CLIENT6, 8080, s6, SYN | ACK)))
        .reply(D_TCP6, 13),
        NatRow::new(
            format!("DNAT: IPv6 UDP [2001:db8:c::1]:{s6} -> [2001:db8::10]:5300 becomes -> [2001:db8:b::14]:9053"),
            Frame::udp(CLIENT6, VIP6, s6, 5300, b"query6").bytes(),
            ci,
            XDP_REDIRECT,
        )
        .output(to_backend(4, Frame::udp(CLIENT6, B4, s6, 9053, b"query6")))
        .request(D_UDP6, 14)
        .both(D_UDP6, 14, Field::NewFlows, 1),
        NatRow::new(
            "(after) its IPv6 answer: from [2001:db8::10]:5300",
            from_backend(4, Frame::udp(B4, CLIENT6, 9053, s6, b"answer6")),
            bi,
            XDP_REDIRECT,
        )
        .output(to_client(Frame::udp(VIP6, CLIENT6, 5300, s6, b"answer6")))
        .reply(D_UDP6, 14),
    ]);
    let mut n = nat::run_rows(&dp, &rows);

    // NAT_CFG_NO_DNAT, as user space writes it when no VIP forwards by DNAT:
    // a packet no VIP claims is not looked up as a DNAT reply at all (the
    // VIP_PORTS read is skipped), so even a reply with a translation passes.
    let reply = || from_backend(1, Frame::tcp(B1, CLIENT4, 9000, a, ACK));
    nat::set_config(
        &mut dp,
        NatConfig {
            flags: NAT_CFG_NO_DNAT,
            ..config()
        },
    )?;
    n += nat::run_rows(
        &dp,
        &[NatRow::new(
            format!(
                "NAT_CONFIG says no DNAT VIP: the backend's segment 203.0.113.11:9000 -> \
                 192.0.2.1:{a}, which has a translation, is not looked for: PASSED untouched"
            ),
            reply(),
            bi,
            XDP_PASS,
        )
        .passed()],
    );
    nat::set_config(&mut dp, config())?;
    n += nat::run_rows(
        &dp,
        &[NatRow::new(
            "(after) the bit cleared again: the same segment is translated",
            reply(),
            bi,
            XDP_REDIRECT,
        )
        .output(to_client(Frame::tcp(VIP4, CLIENT4, 8080, a, ACK)))
        .reply(D_TCP4, 11)],
    );
    Ok(n)
}

/// NAT_CONFIG as user space writes it for DNAT VIPs without NAT VIPs: NAT's
/// port range off, the reuse delay set, DNAT replies looked for.
fn config() -> NatConfig {
    NatConfig {
        reuse_after_ns: 120_000_000_000,
        ..NatConfig::default()
    }
}
