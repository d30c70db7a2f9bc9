//! ICMP errors about a VIP flow. With direct server return the backend, not
//! the balancer, sends the VIP's packets; a router that cannot forward one
//! without fragmenting answers the VIP with an ICMP "fragmentation needed"
//! (ICMPv6 "packet too big"), which arrives here. It belongs to the backend
//! that sent the packet, or path-MTU discovery breaks: so, as Katran does,
//! it goes to the backend of the flow its embedded header names. Anything
//! else ICMP, or one about no known flow, passes to the kernel as before.

use aya_ebpf::programs::XdpContext;
use lb_common::vip::{PROTO_TCP, PROTO_UDP};
use network_types::ip::{Ipv4Hdr, Ipv6Hdr};

use crate::program::{
    bounds::{flow_key, load, ptr_at, v4_mapped_words},
    packet::{Packet, ParseError},
};

/// ICMP destination unreachable, code fragmentation needed.
const ICMP_DEST_UNREACH: u8 = 3;
const ICMP_FRAG_NEEDED: u8 = 4;
/// ICMPv6 packet too big.
const ICMPV6_PACKET_TOO_BIG: u8 = 2;
/// Type, code, checksum and four bytes (unused and MTU, or MTU) before the
/// embedded packet.
const ICMP_HEADER_LEN: usize = 8;

/// The flow an ICMP error at `l4` is about, as the client-to-VIP packet of
/// that flow would carry it (the embedded packet goes VIP to client).
#[inline(always)]
pub fn try_about_a_flow(
    ctx: &XdpContext,
    v4: bool,
    l3: usize,
    l4: usize,
) -> Result<Packet, ParseError> {
    let not_ours = ParseError::NOT_OURS;
    let icmp: *const [u8; 2] = ptr_at(ctx, l4).ok_or(not_ours)?;
    // SAFETY: `ptr_at` checked the bounds.
    let [kind, code] = unsafe { *icmp };
    let inner = l4 + ICMP_HEADER_LEN;
    let (vip, client, proto, ports_at) = if v4 {
        if kind != ICMP_DEST_UNREACH || code != ICMP_FRAG_NEEDED {
            return Err(not_ours);
        }
        let ip: *const Ipv4Hdr = ptr_at(ctx, inner).ok_or(not_ours)?;
        // SAFETY: `ptr_at` checked the bounds.
        let ip = unsafe { &*ip };
        let header_len = ip.ihl() as usize;
        if ip.version() != 4 || header_len < Ipv4Hdr::LEN {
            return Err(not_ours);
        }
        // SAFETY: (both) fields of the header checked above.
        let (vip, client) = unsafe { (load(&ip.src_addr), load(&ip.dst_addr)) };
        let (vip, client) = (v4_mapped_words(vip), v4_mapped_words(client));
        (vip, client, ip.proto, inner + header_len)
    } else {
        if kind != ICMPV6_PACKET_TOO_BIG {
            return Err(not_ours);
        }
        let ip: *const Ipv6Hdr = ptr_at(ctx, inner).ok_or(not_ours)?;
        // SAFETY: `ptr_at` checked the bounds.
        let ip = unsafe { &*ip };
        // SAFETY: (both) fields of the header checked above.
        let (vip, client) = unsafe { (load(&ip.src_addr), load(&ip.dst_addr)) };
        (vip, client, ip.next_hdr, inner + Ipv6Hdr::LEN)
    };
    if proto != PROTO_TCP && proto != PROTO_UDP {
        return Err(not_ours);
    }
    // Source and destination ports: the first four bytes of TCP and UDP.
    let ports: *const [u8; 4] = ptr_at(ctx, ports_at).ok_or(not_ours)?;
    // SAFETY: `ptr_at` checked the bounds.
    let ports = unsafe { *ports };
    Ok(Packet {
        key: flow_key(
            client,
            vip,
            u16::from_ne_bytes([ports[2], ports[3]]),
            u16::from_ne_bytes([ports[0], ports[1]]),
            proto,
        ),
        v4,
        tcp_flags: 0,
        has_payload: false,
        icmp_error: true,
        seq: 0,
        frame_len: (ctx.data_end() - ctx.data()) as u32,
        l3: l3 as u16,
        l4: l4 as u16,
    })
}
