//! Header parsing: Ethernet (with one 802.1Q/802.1ad tag), IPv4 (with options)
//! or IPv6 (with extension headers), then TCP or UDP. Every read goes through
//! `ptr_at`, the one bounds-checked accessor.

use core::mem::size_of;

use aya_ebpf::programs::XdpContext;
use lb_common::{
    addr::{Addr16, v4_mapped, words},
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
    error::{DropReason, Error},
    icmp, maps,
};

/// TCP flag bits (byte 13 of the TCP header).
pub const TCP_FIN: u8 = 0x01;
pub const TCP_SYN: u8 = 0x02;
pub const TCP_RST: u8 = 0x04;

/// IPv6 extension headers we step over to find the transport header.
const IPV6_HOP_BY_HOP: u8 = 0;
const IPV6_ROUTING: u8 = 43;
const IPV6_FRAGMENT: u8 = 44;
const IPV6_DEST_OPTS: u8 = 60;
/// How many extension headers we step over; a chain longer than this is passed.
const IPV6_MAX_EXT_HEADERS: usize = 4;

/// IPv4 fragment offset mask in the host-order `frags` field.
const IPV4_OFFSET_MASK: u16 = 0x1fff;

/// IANA protocol numbers of ICMP and ICMPv6.
pub const PROTO_ICMP: u8 = 1;
pub const PROTO_ICMPV6: u8 = 58;

/// Stands for "TCP or UDP, not known which" in [`ParseError::Malformed`].
pub const PROTO_UNKNOWN: u8 = 0;

/// What the rest of the program needs from a well-formed TCP or UDP packet.
pub struct Packet {
    /// IPv4 (addresses IPv4-mapped) or IPv6.
    pub v4: bool,
    pub src: Addr16,
    pub dst: Addr16,
    pub sport_be: u16,
    pub dport_be: u16,
    pub proto: u8,
    /// TCP flags byte; 0 for UDP.
    pub tcp_flags: u8,
    /// TCP sequence number (host order); 0 for UDP.
    pub seq: u32,
    /// The segment carries payload (for TCP: data beyond the header).
    pub has_payload: bool,
    /// Bytes in the frame, for the byte counters.
    pub frame_len: u32,
    /// An ICMP "fragmentation needed" or ICMPv6 "packet too big" about the
    /// VIP-to-client packet whose 5-tuple the other fields hold, turned
    /// around (see icmp.rs): it only follows an existing flow.
    pub icmp_error: bool,
    /// Offsets of the network and transport headers (NAT rewrites them).
    pub l3: u16,
    pub l4: u16,
}

/// What went wrong, without data.
#[derive(Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ParseErrorKind {
    /// Not IPv4/IPv6, or not TCP/UDP: nothing for us.
    NotOurs,
    /// Malformed before the destination address is known.
    Unparsable,
    /// Truncated or malformed after the destination address is known.
    Malformed,
    /// A non-first fragment.
    Fragment,
}

/// Why a packet could not be parsed into a [`Packet`].
///
/// A plain struct rather than an enum with data: every field is always
/// initialised, so the compiler never packs undefined bytes into the value,
/// which the verifier rejects ("R7 !read_ok").
#[derive(Clone, Copy)]
pub struct ParseError {
    pub kind: ParseErrorKind,
    /// The destination, for `Malformed` and `Fragment`.
    pub dst: Addr16,
    /// TCP, UDP, or [`PROTO_UNKNOWN`] when a cut hid it (inside IPv6
    /// extension headers).
    pub proto: u8,
}

impl ParseError {
    pub const NOT_OURS: Self = Self::new(ParseErrorKind::NotOurs, [0; 16], PROTO_UNKNOWN);
    pub const UNPARSABLE: Self = Self::new(ParseErrorKind::Unparsable, [0; 16], PROTO_UNKNOWN);

    const fn new(kind: ParseErrorKind, dst: Addr16, proto: u8) -> Self {
        Self { kind, dst, proto }
    }

    pub const fn malformed(dst: Addr16, proto: u8) -> Self {
        Self::new(ParseErrorKind::Malformed, dst, proto)
    }

    pub const fn fragment(dst: Addr16, proto: u8) -> Self {
        Self::new(ParseErrorKind::Fragment, dst, proto)
    }

    /// A packet to a VIP address is dropped and counted on that VIP; any other
    /// is passed untouched.
    #[inline(always)]
    pub fn into_error(self) -> Error {
        let reason = match self.kind {
            ParseErrorKind::NotOurs => return Error::Pass,
            ParseErrorKind::Unparsable => return Error::PassMalformed,
            ParseErrorKind::Malformed => DropReason::Malformed,
            ParseErrorKind::Fragment => DropReason::Fragment,
        };
        let malformed = self.kind == ParseErrorKind::Malformed;
        let vip = match self.proto {
            PROTO_TCP | PROTO_UDP => maps::vip_of_address(&self.dst, self.proto),
            // The cut hid the transport protocol: a VIP address of either counts.
            PROTO_UNKNOWN if malformed => maps::vip_of_address(&self.dst, PROTO_TCP)
                .or_else(|| maps::vip_of_address(&self.dst, PROTO_UDP)),
            _ => return Error::Pass,
        };
        match vip {
            Some(vip_id) => Error::Drop { vip_id, reason },
            None if malformed => Error::PassMalformed,
            None => Error::Pass,
        }
    }
}

/// The header field at `field`, read whole. Header fields are byte arrays
/// (alignment 1), which LLVM's BPF backend reads one byte at a time and
/// shifts together, and the bytes then fill the program's few registers and
/// spill; this reads a 2-, 4- or 16-byte field with one load per word. A
/// frame starts at least 2-aligned, and the verifier lets a program load
/// packet data unaligned where the CPU does (x86, arm64).
///
/// # Safety
/// `field` points into the packet, inside bounds already checked.
#[inline(always)]
pub unsafe fn load<T: Copy, const N: usize>(field: &[u8; N]) -> T {
    const { assert!(core::mem::size_of::<T>() == N) };
    // SAFETY: the caller's bounds; `T` is plain data of the field's size.
    unsafe { (field as *const [u8; N]).cast::<T>().read() }
}

/// A 16-byte address field read as four words (see [`load`]).
///
/// # Safety
/// As for [`load`].
#[inline(always)]
pub unsafe fn load_addr16(field: &Addr16) -> Addr16 {
    // SAFETY: as for `load`; four u32 are the same 16 bytes.
    unsafe { core::mem::transmute::<[u32; 4], Addr16>(load(field)) }
}

/// A pointer to a `T` at `offset` bytes into the packet, if it fits.
#[inline(always)]
pub fn ptr_at<T>(ctx: &XdpContext, offset: usize) -> Option<*mut T> {
    let start = ctx.data();
    let end = ctx.data_end();
    if start + offset + size_of::<T>() > end {
        return None;
    }
    // SAFETY: the whole `T` lies inside [data, data_end), checked just above; the
    // verifier checks the same thing again before it lets the program load.
    Some((start + offset) as *mut T)
}

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
    if let Some(own) = maps::OWN_MAC.get_ptr(0) {
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
    src: Addr16,
    dst: Addr16,
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
    let dst = v4_mapped(unsafe { load::<u32, 4>(&ip.dst_addr) }.to_ne_bytes());
    let proto = ip.proto;
    let malformed = ParseError::malformed(dst, proto);
    if proto != PROTO_TCP && proto != PROTO_UDP && proto != PROTO_ICMP {
        return Err(ParseError::NOT_OURS);
    }
    let header_len = ((ip.vihl & 0x0f) as usize) * 4;
    let total_len = u16::from_be(unsafe { load(&ip.tot_len) }) as usize;
    if header_len < Ipv4Hdr::LEN || total_len < header_len {
        return Err(malformed);
    }
    if offset + total_len > ctx.data_end() - ctx.data() {
        return Err(malformed);
    }
    let frags = u16::from_be(unsafe { load(&ip.frags) });
    if frags & IPV4_OFFSET_MASK != 0 {
        return Err(ParseError::fragment(dst, proto));
    }
    // A first fragment (MF set, offset 0) carries the transport header: it goes
    // on like any packet; only later fragments, which have no ports, are dropped.
    Ok(Ip {
        v4: true,
        l3: offset,
        src: v4_mapped(unsafe { load::<u32, 4>(&ip.src_addr) }.to_ne_bytes()),
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
    let dst = unsafe { load_addr16(&ip.dst_addr) };
    // `::ffff:a.b.c.d` is how the maps hold an IPv4 address; as an IPv6
    // destination it is never a VIP (it does not route), and must not match
    // an IPv4 VIP's keys.
    if is_v4_mapped(&dst) {
        return Err(ParseError::NOT_OURS);
    }
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
        src: unsafe { load_addr16(&ip.src_addr) },
        dst,
        proto: next,
        l4,
        end,
    })
}

/// True for an IPv4-mapped IPv6 address (`::ffff:0:0/96`).
#[inline(always)]
fn is_v4_mapped(addr: &Addr16) -> bool {
    let w = words(addr);
    w[0] == 0 && w[1] == 0 && w[2] == u32::from_ne_bytes([0, 0, 0xff, 0xff])
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
        // SAFETY: the flags byte is byte 13 of the 20-byte header checked above.
        let tcp_flags = unsafe { *(tcp as *const TcpHdr as *const u8).add(13) };
        Ok(Packet {
            v4: ip.v4,
            src: ip.src,
            dst: ip.dst,
            // SAFETY: (these three) fields of the header checked above.
            sport_be: unsafe { load(&tcp.source) },
            dport_be: unsafe { load(&tcp.dest) },
            proto: PROTO_TCP,
            tcp_flags,
            seq: u32::from_be(unsafe { load(&tcp.seq) }),
            has_payload: ip.end > payload_start,
            frame_len,
            icmp_error: false,
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
            v4: ip.v4,
            src: ip.src,
            dst: ip.dst,
            // SAFETY: (both) fields of the header checked above.
            sport_be: unsafe { load(&udp.src) },
            dport_be: unsafe { load(&udp.dst) },
            proto: PROTO_UDP,
            tcp_flags: 0,
            seq: 0,
            has_payload: ip.end > ip.l4 + UdpHdr::LEN,
            frame_len,
            icmp_error: false,
            l3: ip.l3 as u16,
            l4: ip.l4 as u16,
        })
    }
}
