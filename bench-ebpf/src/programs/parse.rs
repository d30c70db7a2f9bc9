//! The floor's parser: Ethernet with at most one 802.1Q/802.1ad tag, IPv4
//! (header length from IHL) or IPv6 (no extension headers), TCP or UDP, each
//! header bounds-checked before it is read. Anything else is not ours.

use core::mem::size_of;

use aya_ebpf::programs::XdpContext;
use lb_common::{
    addr::{Addr16, v4_mapped},
    vip::{PROTO_TCP, PROTO_UDP},
};
use network_types::{
    eth::{EthHdr, EtherType},
    ip::{Ipv4Hdr, Ipv6Hdr},
    tcp::TcpHdr,
    udp::UdpHdr,
    vlan::VlanHdr,
};

/// The 5-tuple of a TCP or UDP packet, addresses as `lb` keys them.
pub struct Tuple {
    /// IPv4 (addresses IPv4-mapped) or IPv6.
    pub v4: bool,
    pub src: Addr16,
    pub dst: Addr16,
    pub sport_be: u16,
    pub dport_be: u16,
    pub proto: u8,
}

/// A pointer to a `T` at `offset` bytes into the packet, if it fits.
#[inline(always)]
pub fn ptr_at<T>(ctx: &XdpContext, offset: usize) -> Option<*mut T> {
    let start = ctx.data();
    if start + offset + size_of::<T>() > ctx.data_end() {
        return None;
    }
    // SAFETY: the whole `T` lies inside [data, data_end), checked just above.
    Some((start + offset) as *mut T)
}

/// Parses the frame down to the transport header's ports.
#[inline(always)]
pub fn parse(ctx: &XdpContext) -> Option<Tuple> {
    let eth: *const EthHdr = ptr_at(ctx, 0)?;
    // SAFETY: `ptr_at` checked the bounds.
    let mut ether_type = unsafe { (*eth).ether_type };
    let mut l3 = EthHdr::LEN;
    if ether_type == EtherType::Ieee8021q as u16 || ether_type == EtherType::Ieee8021ad as u16 {
        let vlan: *const VlanHdr = ptr_at(ctx, l3)?;
        // SAFETY: `ptr_at` checked the bounds.
        ether_type = unsafe { (*vlan).ether_type };
        l3 += VlanHdr::LEN;
    }
    let v4 = ether_type == EtherType::Ipv4 as u16;
    let (src, dst, proto, l4) = if ether_type == EtherType::Ipv4 as u16 {
        let ip: *const Ipv4Hdr = ptr_at(ctx, l3)?;
        // SAFETY: `ptr_at` checked the bounds.
        let ip = unsafe { &*ip };
        let header_len = ((ip.vihl & 0x0f) as usize) * 4;
        if ip.version() != 4 || header_len < Ipv4Hdr::LEN {
            return None;
        }
        (
            v4_mapped(ip.src_addr),
            v4_mapped(ip.dst_addr),
            ip.proto,
            l3 + header_len,
        )
    } else if ether_type == EtherType::Ipv6 as u16 {
        let ip: *const Ipv6Hdr = ptr_at(ctx, l3)?;
        // SAFETY: `ptr_at` checked the bounds.
        let ip = unsafe { &*ip };
        if ip.version() != 6 {
            return None;
        }
        (ip.src_addr, ip.dst_addr, ip.next_hdr, l3 + Ipv6Hdr::LEN)
    } else {
        return None;
    };
    let (sport_be, dport_be) = if proto == PROTO_TCP {
        let tcp: *const TcpHdr = ptr_at(ctx, l4)?;
        // SAFETY: `ptr_at` checked the bounds.
        let tcp = unsafe { &*tcp };
        (u16::from_ne_bytes(tcp.source), u16::from_ne_bytes(tcp.dest))
    } else if proto == PROTO_UDP {
        let udp: *const UdpHdr = ptr_at(ctx, l4)?;
        // SAFETY: `ptr_at` checked the bounds.
        let udp = unsafe { &*udp };
        (u16::from_ne_bytes(udp.src), u16::from_ne_bytes(udp.dst))
    } else {
        return None;
    };
    Some(Tuple {
        v4,
        src,
        dst,
        sport_be,
        dport_be,
        proto,
    })
}

/// Sends the frame back where it came from: destination and source MACs swapped.
#[inline(always)]
pub fn swap_macs(ctx: &XdpContext) -> Option<()> {
    let eth: *mut EthHdr = ptr_at(ctx, 0)?;
    // SAFETY: `ptr_at` checked the bounds.
    unsafe { core::mem::swap(&mut (*eth).dst_addr, &mut (*eth).src_addr) };
    Some(())
}
