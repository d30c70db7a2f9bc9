//! Random and mutated frames for the robustness test.
//!
//! Valid frames are built with random shapes (family, tags, options,
//! extension headers, fragments, flags, addresses in and out of the VIPs), then
//! most are damaged: bytes flipped, cut short, header fields overwritten with
//! random values, or replaced by plain random bytes.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::{
    packet::{
        ACK, CLIENT_MAC, ETH_P_8021AD, ETH_P_8021Q, ETH_P_ARP, ETH_P_IPV4, ETH_P_IPV6, Ext, FIN,
        Frame, Layout, Net, PSH, RST, SYN,
    },
    rng::Rng,
    standard::{OTHER4, OTHER6, VIP4, VIP4_EMPTY, VIP6},
};

/// How a frame was made, for the per-kind tallies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Valid,
    Flipped,
    Truncated,
    Fields,
    FieldsTruncated,
    Random,
}

pub const KINDS: [Kind; 6] = [
    Kind::Valid,
    Kind::Flipped,
    Kind::Truncated,
    Kind::Fields,
    Kind::FieldsTruncated,
    Kind::Random,
];

/// One fuzzed frame.
pub fn frame(rng: &mut Rng) -> (Kind, Vec<u8>) {
    let roll = rng.below(100);
    if roll < 10 {
        return (Kind::Random, {
            let len = rng.range(0, 200);
            rng.bytes(len)
        });
    }
    let frame = valid(rng);
    damaged(rng, &frame, roll)
}

/// `frame` damaged as [`frame`] does for a `roll` of 10 to 99 (below 25:
/// left valid).
pub fn damaged(rng: &mut Rng, frame: &Frame, roll: usize) -> (Kind, Vec<u8>) {
    let (mut bytes, layout) = frame.build();
    let kind = match roll {
        10..=24 => Kind::Valid,
        25..=49 => {
            for _ in 0..rng.range(1, 8) {
                let i = rng.below(bytes.len());
                bytes[i] ^= rng.byte() | 1;
            }
            Kind::Flipped
        }
        50..=64 => {
            bytes.truncate(rng.below(bytes.len() + 1));
            Kind::Truncated
        }
        65..=89 => {
            fields(rng, &mut bytes, &layout);
            Kind::Fields
        }
        _ => {
            fields(rng, &mut bytes, &layout);
            bytes.truncate(rng.below(bytes.len() + 1));
            Kind::FieldsTruncated
        }
    };
    (kind, bytes)
}

/// Overwrites one to three header fields the parser reads with random values.
fn fields(rng: &mut Rng, b: &mut [u8], l: &Layout) {
    for _ in 0..rng.range(1, 3) {
        let ether_type_at = l.l3 - 2;
        let choice = rng.below(9);
        let (at, value): (usize, Vec<u8>) = match choice {
            0 => {
                let any = rng.next_u64() as u16;
                let types = [
                    ETH_P_IPV4,
                    ETH_P_IPV6,
                    ETH_P_ARP,
                    ETH_P_8021Q,
                    ETH_P_8021AD,
                    0x9100,
                    any,
                ];
                (ether_type_at, rng.pick(&types).to_be_bytes().to_vec())
            }
            1 => (
                12,
                rng.pick(&[ETH_P_8021Q, ETH_P_8021AD])
                    .to_be_bytes()
                    .to_vec(),
            ),
            // Version/IHL nibbles (IPv4) or version/class (IPv6).
            2 => (l.l3, vec![rng.byte()]),
            // IPv4 protocol, or the IPv6 payload length's low byte.
            3 => {
                let any = rng.byte();
                (l.l3 + 9, vec![*rng.pick(&[6, 17, 1, 58, 0, 44, any])])
            }
            // IPv4 total length / IPv6 payload length.
            4 => (l.l3 + 2 + 2 * rng.below(2), rng.bytes(2)),
            // IPv4 flags and fragment offset, or IPv6 next header + hop limit.
            5 => (l.l3 + 6, rng.bytes(2)),
            // TCP data offset (or some byte of the transport header).
            6 => (l.l4 + 12, vec![rng.byte()]),
            // An extension header's next-header or length byte.
            7 => match l.ext.as_slice() {
                [] => (l.l4, rng.bytes(2)),
                ext => (*rng.pick(ext) + rng.below(2), vec![rng.byte()]),
            },
            _ => (l.l4 + rng.below(4), vec![rng.byte()]),
        };
        for (i, v) in value.into_iter().enumerate() {
            if let Some(slot) = b.get_mut(at + i) {
                *slot = v;
            }
        }
    }
}

/// A well-formed frame of random shape.
pub fn valid(rng: &mut Rng) -> Frame {
    let v6 = rng.chance(40);
    let mut f = match rng.below(20) {
        0 => Frame::arp_request(
            CLIENT_MAC,
            Ipv4Addr::new(192, 0, 2, rng.byte()),
            Ipv4Addr::new(198, 51, 100, 10),
        ),
        1 => Frame::echo(src(rng, v6), dst(rng, v6)),
        2 => Frame::neighbour_solicitation(
            Ipv6Addr::new(0x2001, 0xdb8, 0xc, 0, 0, 0, 0, u16::from(rng.byte())),
            CLIENT_MAC,
            Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x10),
        ),
        _ => transport(rng, v6),
    };
    if rng.chance(15) {
        let tpid = *rng.pick(&[ETH_P_8021Q, ETH_P_8021AD]);
        f = f.vlan(tpid, rng.next_u64() as u16 & 0x0fff);
    }
    if rng.chance(10) {
        f = f.pad_to(60);
    }
    match &mut f.net {
        Net::Ipv4(ip) => {
            if rng.chance(15) {
                let len = 4 * rng.range(1, 10);
                ip.options = rng.bytes(len);
            }
            if rng.chance(8) {
                ip.dont_fragment = false;
                ip.more_fragments = rng.chance(50);
                ip.fragment_offset = if rng.chance(50) {
                    0
                } else {
                    rng.range(1, 400) as u16
                };
            }
        }
        Net::Ipv6(ip) => {
            for _ in 0..rng.below(6).saturating_sub(2) {
                ip.ext.push(ext(rng));
            }
        }
        _ => {}
    }
    f
}

fn src(rng: &mut Rng, v6: bool) -> IpAddr {
    let host = if rng.chance(50) {
        rng.range(1, 16) as u8
    } else {
        rng.byte()
    };
    if v6 {
        Ipv6Addr::new(0x2001, 0xdb8, 0xc, 0, 0, 0, 0, u16::from(host)).into()
    } else {
        Ipv4Addr::new(192, 0, 2, host).into()
    }
}

/// Mostly VIP addresses, so the VIP paths get exercised.
fn dst(rng: &mut Rng, v6: bool) -> IpAddr {
    match (v6, rng.below(4)) {
        (true, 0) => OTHER6,
        (true, _) => VIP6,
        (false, 0) => OTHER4,
        (false, 1) => VIP4_EMPTY,
        (false, _) => VIP4,
    }
}

fn transport(rng: &mut Rng, v6: bool) -> Frame {
    // Two times in three, exactly a VIP's (address, port, protocol).
    let vip = rng.chance(67).then(|| {
        *rng.pick(&[
            (VIP4, 80, true),
            (VIP4, 53, false),
            (VIP6, 443, true),
            (VIP6, 53, false),
            (VIP4_EMPTY, 80, true),
        ])
    });
    let (d, dport, tcp) = vip.unwrap_or_else(|| {
        let any_port = rng.next_u64() as u16;
        let dport = *rng.pick(&[80, 443, 53, 22, any_port]);
        (dst(rng, v6), dport, rng.chance(70))
    });
    let s = src(rng, d.is_ipv6());
    // Half the time one of a few hundred 5-tuples, so flows are found again
    // (hits, FIN/RST on known flows, SYN reuse), not only created.
    let sport = if rng.chance(50) {
        rng.range(40000, 40003) as u16
    } else {
        rng.range(1024, 65535) as u16
    };
    if !tcp {
        let len = rng.below(48);
        return Frame::udp(s, d, sport, dport, &rng.bytes(len));
    }
    let any_flags = rng.byte();
    let flags = *rng.pick(&[SYN, SYN, ACK, ACK, PSH | ACK, FIN | ACK, RST, any_flags]);
    let mut f = Frame::tcp(s, d, sport, dport, flags);
    if rng.chance(20) {
        let len = 4 * rng.range(1, 10);
        f = f.tcp_options(&rng.bytes(len));
    }
    if rng.chance(30) {
        let len = rng.range(1, 64);
        f = f.payload(&rng.bytes(len));
    }
    f
}

fn ext(rng: &mut Rng) -> Ext {
    match rng.below(4) {
        0 => Ext::HopByHop(vec![]),
        1 => Ext::DestOpts(vec![1, 2, 0, 0]),
        2 => Ext::Routing {
            routing_type: 4,
            segments_left: 0,
            data: vec![0; 4],
        },
        _ => Ext::Fragment {
            offset: if rng.chance(50) {
                0
            } else {
                rng.range(1, 100) as u16
            },
            more: rng.chance(50),
            id: rng.next_u64() as u32,
        },
    }
}
