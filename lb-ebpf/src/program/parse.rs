//! Header parsing: Ethernet (with one 802.1Q/802.1ad tag), IPv4 (with options)
//! or IPv6 (with extension headers), then TCP or UDP, into a [`Packet`].
//! Every read goes through `bounds::ptr_at`; addresses travel as words.

use aya_ebpf::programs::XdpContext;
use lb_common::{
    iface::OwnMac,
    vip::{PROTO_TCP, PROTO_UDP},
};
use network_types::{
    eth::{EthHdr, EtherType},
    ip::{Ipv4Hdr, Ipv6Hdr},
    tcp::TcpHdr,
    udp::UdpHdr,
    vlan::VlanHdr,
};

use crate::program::{
    bounds::{flow_key, load, ptr_at, v4_mapped_words},
    icmp,
    maps::OWN_MAC,
    packet::{PROTO_ICMP, PROTO_ICMPV6, PROTO_UNKNOWN, Packet, ParseError},
};

/// IPv6 extension headers we step over to find the transport header.
const IPV6_HOP_BY_HOP: u8 = 0;
const IPV6_ROUTING: u8 = 43;
const IPV6_FRAGMENT: u8 = 44;
const IPV6_DEST_OPTS: u8 = 60;
/// How many extension headers we step over; a chain longer than this is passed.
const IPV6_MAX_EXT_HEADERS: usize = 4;

/// IPv4 fragment offset mask in the host-order flags-and-offset field.
const IPV4_OFFSET_MASK: u16 = 0x1fff;

/// Where the network header starts and which one it is.
struct L3 {
    offset: usize,
    ether_type: u16,
}

#[inline(always)]
fn try_l2(ctx: &XdpContext) -> Result<L3, ParseError> {
    let eth: *const EthHdr = ptr_at(ctx, 0).ok_or(ParseError::UNPARSABLE)?;
    // SAFETY: `ptr_at` checked the bounds. The destination MAC is read as a
    // u32 and a u16 (the packet may be only 2-aligned: the verifier allows
    // unaligned packet loads where the CPU does them, as x86 and arm64 do),
    // not as six bytes to shift together.
    let (ether_type, dst) = unsafe {
        let lo = u64::from((eth as *const u32).read());
        let hi = u64::from((eth as *const u8).add(4).cast::<u16>().read());
        ((*eth).ether_type, lo | hi << 32)
    };
    // A unicast frame to another MAC (the interface is promiscuous, or a
    // bridge floods) is not ours to forward.
    if let Some(own) = OWN_MAC.get_ptr(0) {
        // SAFETY: an 8-byte, 8-aligned map value, read as one word.
        let own = unsafe { own.cast::<u64>().read() };
        if OwnMac::not_for_us_word(own, dst) {
            return Err(ParseError::NOT_OURS);
        }
    }
    if ether_type == EtherType::Ieee8021q as u16 || ether_type == EtherType::Ieee8021ad as u16 {
        let vlan: *const VlanHdr = ptr_at(ctx, EthHdr::LEN).ok_or(ParseError::UNPARSABLE)?;
        return Ok(L3 {
            offset: EthHdr::LEN + VlanHdr::LEN,
            // SAFETY: `ptr_at` checked the bounds.
            ether_type: unsafe { (*vlan).ether_type },
        });
    }
    Ok(L3 {
        offset: EthHdr::LEN,
        ether_type,
    })
}

/// Parses the frame in `ctx`.
#[inline(always)]
pub fn try_parse(ctx: &XdpContext) -> Result<Packet, ParseError> {
    let l3 = try_l2(ctx)?;
    let ip = if l3.ether_type == EtherType::Ipv4 as u16 {
        try_ipv4(ctx, l3.offset)?
    } else if l3.ether_type == EtherType::Ipv6 as u16 {
        try_ipv6(ctx, l3.offset)?
    } else {
        return Err(ParseError::NOT_OURS);
    };
    if ip.proto == PROTO_ICMP || ip.proto == PROTO_ICMPV6 {
        return icmp::try_about_a_flow(ctx, ip.v4, ip.l3, ip.l4);
    }
    try_l4(ctx, &ip)
}

/// The network layer's findings.
struct Ip {
    v4: bool,
    /// Offset of the network header.
    l3: usize,
    src: [u32; 4],
    dst: [u32; 4],
    proto: u8,
    /// Offset of the transport header.
    l4: usize,
    /// Offset one past the IP payload's last byte (the frame may carry padding after it).
    end: usize,
}

#[inline(always)]
fn try_ipv4(ctx: &XdpContext, offset: usize) -> Result<Ip, ParseError> {
    let ip: *const Ipv4Hdr = ptr_at(ctx, offset).ok_or(ParseError::UNPARSABLE)?;
    // SAFETY: `ptr_at` checked the bounds of the fixed header.
    let ip = unsafe { &*ip };
    if ip.version() != 4 {
        return Err(ParseError::UNPARSABLE);
    }
    // SAFETY: (here and below) fields of the header checked above.
    let dst = v4_mapped_words(unsafe { load(&ip.dst_addr) });
    let proto = ip.proto;
    let malformed = ParseError::malformed(dst, proto);
    if proto != PROTO_TCP && proto != PROTO_UDP && proto != PROTO_ICMP {
        return Err(ParseError::NOT_OURS);
    }
    let header_len = ip.ihl() as usize;
    // Read whole, not by `Ipv4Hdr::tot_len()`: its unaligned read is two
    // byte loads and a shift here, this one load (see bounds::load).
    let total_len = u16::from_be(unsafe { load(&ip.tot_len) }) as usize;
    if header_len < Ipv4Hdr::LEN || total_len < header_len {
        return Err(malformed);
    }
    if offset + total_len > ctx.data_end() - ctx.data() {
        return Err(malformed);
    }
    // Read whole, not by `Ipv4Hdr::frag_offset()`: its unaligned read costs
    // three more instructions (two byte loads, a shift and an or).
    if u16::from_be(unsafe { load(&ip.frags) }) & IPV4_OFFSET_MASK != 0 {
        return Err(ParseError::fragment(dst, proto));
    }
    // A first fragment (MF set, offset 0) carries the transport header: it goes
    // on like any packet; only later fragments, which have no ports, are dropped.
    Ok(Ip {
        v4: true,
        l3: offset,
        src: v4_mapped_words(unsafe { load(&ip.src_addr) }),
        dst,
        proto,
        l4: offset + header_len,
        end: offset + total_len,
    })
}

#[inline(always)]
fn try_ipv6(ctx: &XdpContext, offset: usize) -> Result<Ip, ParseError> {
    let ip: *const Ipv6Hdr = ptr_at(ctx, offset).ok_or(ParseError::UNPARSABLE)?;
    // SAFETY: `ptr_at` checked the bounds of the fixed header.
    let ip = unsafe { &*ip };
    if ip.version() != 6 {
        return Err(ParseError::UNPARSABLE);
    }
    // SAFETY: (here and below) fields of the header checked above.
    let dst: [u32; 4] = unsafe { load(&ip.dst_addr) };
    // `::ffff:a.b.c.d` is how the maps hold an IPv4 address; as an IPv6
    // destination it is never a VIP (it does not route), and must not match
    // an IPv4 VIP's keys.
    if is_v4_mapped(dst) {
        return Err(ParseError::NOT_OURS);
    }
    // Read whole, as the IPv4 total length (see try_ipv4).
    let end = offset + Ipv6Hdr::LEN + u16::from_be(unsafe { load(&ip.payload_len) }) as usize;
    let mut next = ip.next_hdr;
    let mut l4 = offset + Ipv6Hdr::LEN;
    // A cut inside the extension headers hides which transport follows.
    let malformed = ParseError::malformed(dst, PROTO_UNKNOWN);
    for _ in 0..IPV6_MAX_EXT_HEADERS {
        match next {
            PROTO_TCP | PROTO_UDP | PROTO_ICMPV6 => break,
            IPV6_FRAGMENT => {
                // Next header (1), reserved (1), offset and flags (2), id (4).
                let frag: *const [u8; 8] = ptr_at(ctx, l4).ok_or(malformed)?;
                // SAFETY: `ptr_at` checked the bounds.
                let frag = unsafe { &*frag };
                next = frag[0];
                if u16::from_be_bytes([frag[2], frag[3]]) & 0xfff8 != 0 {
                    return Err(ParseError::fragment(dst, next));
                }
                l4 += 8;
            }
            IPV6_HOP_BY_HOP | IPV6_ROUTING | IPV6_DEST_OPTS => {
                // Next header (1), length in 8-byte units not counting the first (1).
                let ext: *const [u8; 2] = ptr_at(ctx, l4).ok_or(malformed)?;
                // SAFETY: `ptr_at` checked the bounds.
                let ext = unsafe { &*ext };
                next = ext[0];
                l4 += (ext[1] as usize + 1) * 8;
            }
            _ => return Err(ParseError::NOT_OURS),
        }
    }
    if next != PROTO_TCP && next != PROTO_UDP && next != PROTO_ICMPV6 {
        return Err(ParseError::NOT_OURS);
    }
    if end > ctx.data_end() - ctx.data() {
        return Err(ParseError::malformed(dst, next));
    }
    Ok(Ip {
        v4: false,
        l3: offset,
        src: unsafe { load(&ip.src_addr) },
        dst,
        proto: next,
        l4,
        end,
    })
}

/// True for an IPv4-mapped IPv6 address (`::ffff:0:0/96`).
#[inline(always)]
fn is_v4_mapped(w: [u32; 4]) -> bool {
    let mapped = v4_mapped_words(0);
    w[0] == 0 && w[1] == 0 && w[2] == mapped[2]
}

#[inline(always)]
fn try_l4(ctx: &XdpContext, ip: &Ip) -> Result<Packet, ParseError> {
    let malformed = ParseError::malformed(ip.dst, ip.proto);
    let frame_len = (ctx.data_end() - ctx.data()) as u32;
    if ip.proto == PROTO_TCP {
        let tcp: *const TcpHdr = ptr_at(ctx, ip.l4).ok_or(malformed)?;
        // SAFETY: `ptr_at` checked the bounds of the fixed header.
        let tcp = unsafe { &*tcp };
        let header_len = tcp.doff() as usize * 4;
        let payload_start = ip.l4 + header_len;
        if header_len < TcpHdr::LEN || payload_start > ip.end {
            return Err(malformed);
        }
        // The whole flags byte (bits 8 to 15 of the flags word): one load.
        let tcp_flags = tcp._bitfield_1.get(8, 8) as u8;
        Ok(Packet {
            // SAFETY: (these three) fields of the header checked above.
            key: flow_key(
                ip.src,
                ip.dst,
                unsafe { load(&tcp.source) },
                unsafe { load(&tcp.dest) },
                PROTO_TCP,
            ),
            v4: ip.v4,
            tcp_flags,
            has_payload: ip.end > payload_start,
            icmp_error: false,
            seq: u32::from_be(unsafe { load(&tcp.seq) }),
            frame_len,
            l3: ip.l3 as u16,
            l4: ip.l4 as u16,
        })
    } else {
        let udp: *const UdpHdr = ptr_at(ctx, ip.l4).ok_or(malformed)?;
        // SAFETY: `ptr_at` checked the bounds.
        let udp = unsafe { &*udp };
        if ip.l4 + UdpHdr::LEN > ip.end {
            return Err(malformed);
        }
        Ok(Packet {
            // SAFETY: (both) fields of the header checked above.
            key: flow_key(
                ip.src,
                ip.dst,
                unsafe { load(&udp.src) },
                unsafe { load(&udp.dst) },
                PROTO_UDP,
            ),
            v4: ip.v4,
            tcp_flags: 0,
            has_payload: ip.end > ip.l4 + UdpHdr::LEN,
            icmp_error: false,
            seq: 0,
            frame_len,
            l3: ip.l3 as u16,
            l4: ip.l4 as u16,
        })
    }
}
