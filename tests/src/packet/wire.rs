//! Encoding a [`Frame`] into bytes: lengths, checksums, and the [`Layout`]
//! of where each header landed.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::{
    ETH_P_ARP, ETH_P_IPV4, ETH_P_IPV6, EXT_DEST_OPTS, EXT_FRAGMENT, EXT_HOP_BY_HOP, EXT_ROUTING,
    Ext, Frame, Ipv4, Ipv6, L4, Layout, Net, PROTO_ICMP, PROTO_ICMPV6, PROTO_TCP, PROTO_UDP,
};

/// The frame's bytes and where each header is.
pub(super) fn build(frame: &Frame) -> (Vec<u8>, Layout) {
    let mut out = Vec::with_capacity(128);
    let mut layout = Layout::default();
    out.extend_from_slice(&frame.dst);
    out.extend_from_slice(&frame.src);
    let ether_type = match &frame.net {
        Net::Ipv4(_) => ETH_P_IPV4,
        Net::Ipv6(_) => ETH_P_IPV6,
        Net::Arp(_) => ETH_P_ARP,
        Net::Raw { ether_type, .. } => *ether_type,
    };
    if let Some(v) = frame.vlan {
        layout.vlan = Some(out.len());
        out.extend_from_slice(&v.tpid.to_be_bytes());
        out.extend_from_slice(&v.tci.to_be_bytes());
    }
    out.extend_from_slice(&ether_type.to_be_bytes());
    layout.l3 = out.len();
    match &frame.net {
        Net::Ipv4(ip) => ipv4(&mut out, &mut layout, ip),
        Net::Ipv6(ip) => ipv6(&mut out, &mut layout, ip),
        Net::Arp(arp) => {
            out.extend_from_slice(&[0, 1, 0x08, 0x00, 6, 4]);
            out.extend_from_slice(&arp.op.to_be_bytes());
            out.extend_from_slice(&arp.sender_mac);
            out.extend_from_slice(&arp.sender_ip.octets());
            out.extend_from_slice(&arp.target_mac);
            out.extend_from_slice(&arp.target_ip.octets());
            layout.l3_fixed_end = out.len();
            layout.l4 = out.len();
            layout.l4_fixed_end = out.len();
            layout.payload = out.len();
        }
        Net::Raw { bytes, .. } => {
            out.extend_from_slice(bytes);
            layout.l3_fixed_end = out.len();
            layout.l4 = out.len();
            layout.l4_fixed_end = out.len();
            layout.payload = out.len();
        }
    }
    layout.end = out.len();
    if out.len() < frame.pad_to {
        out.resize(frame.pad_to, 0);
    }
    (out, layout)
}

/// Sum of 16-bit big-endian words, not yet folded.
fn sum16(bytes: &[u8]) -> u32 {
    bytes
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum()
}

/// The Internet checksum of a sum from [`sum16`].
fn fold(mut sum: u32) -> u16 {
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

fn pad(bytes: &[u8], multiple: usize) -> Vec<u8> {
    let mut v = bytes.to_vec();
    v.resize(v.len().div_ceil(multiple) * multiple, 0);
    v
}

fn ipv4(out: &mut Vec<u8>, layout: &mut Layout, ip: &Ipv4) {
    let options = pad(&ip.options, 4);
    let (proto, l4, offsets) = transport(&ip.l4, Pseudo::V4(ip.src, ip.dst));
    let header_len = 20 + options.len();
    let start = out.len();
    let frags = u16::from(ip.dont_fragment) << 14
        | u16::from(ip.more_fragments) << 13
        | (ip.fragment_offset & 0x1fff);
    out.push(0x40 | (header_len / 4) as u8);
    out.push(0);
    out.extend_from_slice(&((header_len + l4.len()) as u16).to_be_bytes());
    out.extend_from_slice(&ip.id.to_be_bytes());
    out.extend_from_slice(&frags.to_be_bytes());
    out.push(ip.ttl);
    out.push(proto);
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(&ip.src.octets());
    out.extend_from_slice(&ip.dst.octets());
    layout.l3_fixed_end = out.len();
    out.extend_from_slice(&options);
    let check = fold(sum16(&out[start..]));
    out[start + 10..start + 12].copy_from_slice(&check.to_be_bytes());
    set_l4(out, layout, &l4, offsets);
}

fn ipv6(out: &mut Vec<u8>, layout: &mut Layout, ip: &Ipv6) {
    let (proto, l4, offsets) = transport(&ip.l4, Pseudo::V6(ip.src, ip.dst));
    // Each extension header names the one after it; the last names the transport.
    let mut exts = Vec::new();
    for (i, ext) in ip.ext.iter().enumerate() {
        let next = ip.ext.get(i + 1).map_or(proto, ext_type);
        exts.push(ext_bytes(ext, next));
    }
    let first = ip.ext.first().map_or(proto, ext_type);
    let payload_len = exts.iter().map(Vec::len).sum::<usize>() + l4.len();
    out.extend_from_slice(&[0x60, 0, 0, 0]);
    out.extend_from_slice(&(payload_len as u16).to_be_bytes());
    out.push(first);
    out.push(ip.hop_limit);
    out.extend_from_slice(&ip.src.octets());
    out.extend_from_slice(&ip.dst.octets());
    layout.l3_fixed_end = out.len();
    for ext in exts {
        layout.ext.push(out.len());
        out.extend_from_slice(&ext);
    }
    set_l4(out, layout, &l4, offsets);
}

fn set_l4(out: &mut Vec<u8>, layout: &mut Layout, l4: &[u8], (fixed, payload): (usize, usize)) {
    layout.l4 = out.len();
    layout.l4_fixed_end = out.len() + fixed;
    layout.payload = out.len() + payload;
    out.extend_from_slice(l4);
}

fn ext_type(ext: &Ext) -> u8 {
    match ext {
        Ext::HopByHop(_) => EXT_HOP_BY_HOP,
        Ext::DestOpts(_) => EXT_DEST_OPTS,
        Ext::Routing { .. } => EXT_ROUTING,
        Ext::Fragment { .. } => EXT_FRAGMENT,
    }
}

fn ext_bytes(ext: &Ext, next: u8) -> Vec<u8> {
    match ext {
        Ext::HopByHop(opts) | Ext::DestOpts(opts) => {
            let mut v = vec![next, 0];
            v.extend_from_slice(opts);
            // PadN (type 1) fills up to a multiple of 8; a single byte is Pad1 (type 0).
            let fill = (8 - v.len() % 8) % 8;
            match fill {
                0 => {}
                1 => v.push(0),
                n => {
                    v.push(1);
                    v.push((n - 2) as u8);
                    v.resize(v.len() + n - 2, 0);
                }
            }
            v[1] = (v.len() / 8 - 1) as u8;
            v
        }
        Ext::Routing {
            routing_type,
            segments_left,
            data,
        } => {
            let mut v = vec![next, 0, *routing_type, *segments_left];
            v.extend_from_slice(data);
            v.resize(v.len().div_ceil(8).max(1) * 8, 0);
            v[1] = (v.len() / 8 - 1) as u8;
            v
        }
        Ext::Fragment { offset, more, id } => {
            let field = (offset << 3) | u16::from(*more);
            let mut v = vec![next, 0];
            v.extend_from_slice(&field.to_be_bytes());
            v.extend_from_slice(&id.to_be_bytes());
            v
        }
    }
}

#[derive(Clone, Copy)]
enum Pseudo {
    V4(Ipv4Addr, Ipv4Addr),
    V6(Ipv6Addr, Ipv6Addr),
}

impl Pseudo {
    /// Sum of the pseudo-header for a transport checksum.
    fn sum(&self, proto: u8, len: usize) -> u32 {
        let addrs = match self {
            Pseudo::V4(s, d) => sum16(&s.octets()) + sum16(&d.octets()),
            Pseudo::V6(s, d) => sum16(&s.octets()) + sum16(&d.octets()),
        };
        addrs + u32::from(proto) + len as u32
    }
}

/// The transport bytes, its protocol number, and (fixed header length, payload offset).
fn transport(l4: &L4, pseudo: Pseudo) -> (u8, Vec<u8>, (usize, usize)) {
    let v6 = matches!(pseudo, Pseudo::V6(..));
    match l4 {
        L4::Tcp(t) => {
            let options = pad(&t.options, 4);
            let header_len = 20 + options.len();
            let mut v = Vec::with_capacity(header_len + t.payload.len());
            v.extend_from_slice(&t.sport.to_be_bytes());
            v.extend_from_slice(&t.dport.to_be_bytes());
            v.extend_from_slice(&t.seq.to_be_bytes());
            v.extend_from_slice(&t.ack.to_be_bytes());
            v.push(((header_len / 4) as u8) << 4);
            v.push(t.flags);
            v.extend_from_slice(&t.window.to_be_bytes());
            v.extend_from_slice(&[0, 0, 0, 0]);
            v.extend_from_slice(&options);
            v.extend_from_slice(&t.payload);
            let check = fold(pseudo.sum(PROTO_TCP, v.len()) + sum16(&v));
            v[16..18].copy_from_slice(&check.to_be_bytes());
            (PROTO_TCP, v, (20, header_len))
        }
        L4::Udp(u) => {
            let mut v = Vec::with_capacity(8 + u.payload.len());
            v.extend_from_slice(&u.sport.to_be_bytes());
            v.extend_from_slice(&u.dport.to_be_bytes());
            v.extend_from_slice(&((8 + u.payload.len()) as u16).to_be_bytes());
            v.extend_from_slice(&[0, 0]);
            v.extend_from_slice(&u.payload);
            let check = match fold(pseudo.sum(PROTO_UDP, v.len()) + sum16(&v)) {
                0 => 0xffff,
                c => c,
            };
            v[6..8].copy_from_slice(&check.to_be_bytes());
            (PROTO_UDP, v, (8, 8))
        }
        L4::IcmpEcho { id, seq, data } => {
            let (proto, kind) = if v6 {
                (PROTO_ICMPV6, 128)
            } else {
                (PROTO_ICMP, 8)
            };
            let mut v = vec![kind, 0, 0, 0];
            v.extend_from_slice(&id.to_be_bytes());
            v.extend_from_slice(&seq.to_be_bytes());
            v.extend_from_slice(data);
            icmp_checksum(&mut v, &pseudo, proto);
            (proto, v, (8, 8))
        }
        L4::NeighbourSolicitation { target, source_mac } => {
            assert!(v6, "neighbour solicitation is ICMPv6");
            let mut v = vec![135, 0, 0, 0, 0, 0, 0, 0];
            v.extend_from_slice(&target.octets());
            // Option 1: source link-layer address, length 1 (8 bytes).
            v.extend_from_slice(&[1, 1]);
            v.extend_from_slice(source_mac);
            icmp_checksum(&mut v, &pseudo, PROTO_ICMPV6);
            (PROTO_ICMPV6, v, (8, 8))
        }
        L4::Raw { proto, bytes } => (*proto, bytes.clone(), (0, 0)),
    }
}

/// ICMPv4 sums the message alone; ICMPv6 adds the pseudo-header.
fn icmp_checksum(v: &mut [u8], pseudo: &Pseudo, proto: u8) {
    let extra = match pseudo {
        Pseudo::V4(..) => 0,
        Pseudo::V6(..) => pseudo.sum(proto, v.len()),
    };
    let check = fold(extra + sum16(v));
    v[2..4].copy_from_slice(&check.to_be_bytes());
}

/// True when the Internet checksum over `bytes` (checksum field included) verifies.
pub(super) fn checksum_ok(bytes: &[u8]) -> bool {
    fold(sum16(bytes)) == 0
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use super::{
        super::{ETH_P_8021Q, SYN},
        *,
    };

    const C: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
    const V: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 10));
    const C6: IpAddr = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 1));
    const V6: IpAddr = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x10));

    #[test]
    fn ipv4_tcp_lengths_offsets_and_checksums() {
        let f = Frame::tcp(C, V, 40000, 80, SYN)
            .ipv4_options(&[1, 1, 1, 1])
            .tcp_options(&[2, 4, 5, 0xb4])
            .payload(b"hi");
        let (b, l) = f.build();
        assert_eq!((l.l3, l.l3_fixed_end, l.l4, l.payload), (14, 34, 38, 62));
        assert_eq!(b.len(), 64);
        assert_eq!(b[14], 0x46);
        assert_eq!(u16::from_be_bytes([b[16], b[17]]), 50);
        assert!(checksum_ok(&b[14..38]), "IPv4 header checksum");
        let mut pseudo = Vec::new();
        pseudo.extend_from_slice(&b[26..34]);
        pseudo.extend_from_slice(&[0, 6, 0, 26]);
        pseudo.extend_from_slice(&b[38..]);
        assert!(checksum_ok(&pseudo), "TCP checksum");
        assert_eq!(b[38 + 12] >> 4, 6);
    }

    #[test]
    fn ipv6_ext_chain_and_vlan() {
        let f = Frame::udp(C6, V6, 5353, 53, b"q")
            .vlan(ETH_P_8021Q, 100)
            .ext(Ext::HopByHop(vec![]))
            .fragment(true, 0);
        let (b, l) = f.build();
        assert_eq!(&b[12..14], &[0x81, 0x00]);
        assert_eq!(&b[16..18], &[0x86, 0xdd]);
        assert_eq!(l.l3, 18);
        assert_eq!(l.ext, vec![58, 66]);
        assert_eq!(b[18 + 6], EXT_HOP_BY_HOP);
        assert_eq!(b[58], EXT_FRAGMENT);
        assert_eq!(b[66], PROTO_UDP);
        assert_eq!(&b[68..70], &[0, 1]);
        assert_eq!(l.l4, 74);
        assert_eq!(u16::from_be_bytes([b[22], b[23]]) as usize, b.len() - 58);
    }

    #[test]
    fn padding_is_not_ip_payload() {
        let (b, l) = Frame::tcp(C, V, 1, 80, SYN).pad_to(60).build();
        assert_eq!((b.len(), l.end), (60, 54));
    }
}
