//! Rewrites a TCP or UDP packet's addresses and ports in place, with the
//! IPv4 header checksum and the transport checksum (which covers the
//! pseudo-header's addresses) updated incrementally.

use core::mem::size_of;

use aya_ebpf::programs::XdpContext;
use lb_common::{
    addr::{Addr16, words},
    vip::PROTO_TCP,
};
use network_types::{
    ip::{Ipv4Hdr, Ipv6Hdr},
    tcp::TcpHdr,
    udp::UdpHdr,
};

use crate::program::{nat_csum::CsumDelta, packet::Packet};

/// Largest header offset the parser can give (Ethernet, a VLAN tag, an
/// IPv6 header and four extension headers of at most 2 KiB each). Checked
/// again here: an offset read back from a map value is unbounded for the
/// verifier until compared.
const MAX_OFFSET: usize = 0x3fff;

/// A pointer to a `T` at `offset` into the packet, if it fits, for an
/// offset the verifier cannot see through (one read back from a map): the
/// start of the header is made opaque first, so that the bounds check and
/// every access are offsets from the very same pointer, which is what the
/// verifier tracks (left alone, LLVM checks `offset + size` against
/// `data_end - data`, which proves nothing to it).
#[inline(always)]
fn header<T>(ctx: &XdpContext, offset: usize) -> Option<*mut T> {
    let at = core::hint::black_box(ctx.data() + offset);
    if at + size_of::<T>() > ctx.data_end() {
        return None;
    }
    Some(at as *mut T)
}

/// The new 4-tuple, wire order.
pub struct Rewrite {
    pub src: Addr16,
    pub dst: Addr16,
    pub sport_be: u16,
    pub dport_be: u16,
}

/// Rewrites `packet` in `ctx` to `to`. `None` if a header is not where the
/// parser said (it is: the parser checked every byte used here). Not
/// inlined: its frame sits beside the allocator's, not on top of it.
#[inline(never)]
pub fn rewrite(ctx: &XdpContext, packet: &Packet, to: &Rewrite) -> Option<()> {
    let (l3, l4) = (packet.l3 as usize, packet.l4 as usize);
    if l3 > MAX_OFFSET || l4 > MAX_OFFSET {
        return None;
    }
    // No-ops after the check, but a mask is a bound the verifier keeps (it
    // marks no packet range for an offset that may reach 64 KiB); the
    // black box stops LLVM from dropping them as no-ops.
    let l3 = core::hint::black_box(l3) & MAX_OFFSET;
    let l4 = core::hint::black_box(l4) & MAX_OFFSET;
    let mut delta = CsumDelta::new();
    let (os, od, ns, nd) = (
        words(&packet.key.src),
        words(&packet.key.dst),
        words(&to.src),
        words(&to.dst),
    );
    if packet.v4 {
        let ip: *mut Ipv4Hdr = header(ctx, l3)?;
        let mut header = CsumDelta::new();
        header.dword(os[3], ns[3]);
        header.dword(od[3], nd[3]);
        // SAFETY: `header` checked the bounds of the whole fixed header.
        unsafe {
            (*ip).src_addr = ns[3].to_ne_bytes();
            (*ip).dst_addr = nd[3].to_ne_bytes();
            (*ip).check = header.apply(u16::from_ne_bytes((*ip).check)).to_ne_bytes();
        }
        // Only the last word of an IPv4-mapped address is on the wire.
        delta.dword(os[3], ns[3]);
        delta.dword(od[3], nd[3]);
    } else {
        let ip: *mut Ipv6Hdr = header(ctx, l3)?;
        // SAFETY: `header` checked the bounds of the whole fixed header.
        unsafe {
            (*ip).src_addr = to.src;
            (*ip).dst_addr = to.dst;
        }
        for i in 0..4 {
            delta.dword(os[i], ns[i]);
            delta.dword(od[i], nd[i]);
        }
    }
    delta.word(packet.key.sport_be, to.sport_be);
    delta.word(packet.key.dport_be, to.dport_be);
    let (sport, dport) = (to.sport_be.to_ne_bytes(), to.dport_be.to_ne_bytes());
    if packet.key.proto == PROTO_TCP {
        let tcp: *mut TcpHdr = header(ctx, l4)?;
        // SAFETY: `header` checked the bounds of the whole fixed header.
        unsafe {
            (*tcp).source = sport;
            (*tcp).dest = dport;
            (*tcp).check = delta.apply(u16::from_ne_bytes((*tcp).check)).to_ne_bytes();
        }
    } else {
        let udp: *mut UdpHdr = header(ctx, l4)?;
        // SAFETY: `header` checked the bounds of the whole header.
        unsafe {
            (*udp).src = sport;
            (*udp).dst = dport;
            let old = u16::from_ne_bytes((*udp).check);
            // IPv4 UDP may go without a checksum (0), and stays so; a
            // computed 0 is sent as its other form, 0xffff (RFC 768).
            if old != 0 || !packet.v4 {
                let new = delta.apply(old);
                (*udp).check = if new == 0 { 0xffff } else { new }.to_ne_bytes();
            }
        }
    }
    Some(())
}
