//! Sends a translated packet on its way with the kernel's FIB: the route
//! and the next hop's MAC come from `bpf_fib_lookup`, so backends and clients
//! may sit behind routers. Out of the interface it came in on: `XDP_TX`;
//! another one: `bpf_redirect`. A next hop with no neighbour entry yet:
//! `XDP_PASS`, the kernel forwards the (already translated) packet and
//! resolves the neighbour, so later packets find it. No route, or the
//! destination is not forwardable: dropped.
//!
//! The TTL is not decremented (the balancer acts as a bump in the wire, as
//! DSR does), and no MTU check is asked for (tot_len 0): both sides are
//! expected to share the MTU.

use core::mem::size_of;

use aya_ebpf::{
    bindings::{bpf_fib_lookup, xdp_action},
    helpers::{bpf_fib_lookup as fib_lookup, bpf_redirect},
    programs::XdpContext,
};
use lb_common::addr::words;
use network_types::eth::EthHdr;

use crate::program::{bounds::ptr_at, nat_scratch::Scratch, stats};

const AF_INET: u8 = 2;
const AF_INET6: u8 = 10;
/// `BPF_FIB_LKUP_RET_SUCCESS` and `BPF_FIB_LKUP_RET_NO_NEIGH`.
const FIB_SUCCESS: i64 = 0;
const FIB_NO_NEIGH: i64 = 7;

/// The verdict for the packet in `s`, already rewritten to `s.to`, counted
/// on `vip_id` when it is not forwarded. Not inlined: its own frame.
#[inline(never)]
// The struct's size (64 bytes) fits an i32, and bpf_redirect returns an XDP
// action, small and not negative.
#[allow(clippy::cast_possible_wrap, clippy::cast_sign_loss)]
pub fn forward(ctx: &XdpContext, s: &mut Scratch, vip_id: u32) -> u32 {
    // SAFETY: the context pointer is the program's own `xdp_md`.
    let ingress = unsafe { (*ctx.ctx).ingress_ifindex };
    let v4 = s.packet.v4;
    // SAFETY: an all-zero `bpf_fib_lookup` is a valid value (plain integers).
    s.fib = unsafe { core::mem::zeroed() };
    let p = &mut s.fib;
    p.family = if v4 { AF_INET } else { AF_INET6 };
    p.l4_protocol = s.packet.key.proto;
    p.sport = s.to.sport_be;
    p.dport = s.to.dport_be;
    p.ifindex = ingress;
    let (src, dst) = (words(&s.to.src), words(&s.to.dst));
    if v4 {
        p.__bindgen_anon_3.ipv4_src = src[3];
        p.__bindgen_anon_4.ipv4_dst = dst[3];
    } else {
        p.__bindgen_anon_3.ipv6_src = src;
        p.__bindgen_anon_4.ipv6_dst = dst;
    }
    // SAFETY: `p` is a fully initialised struct of the size passed.
    let rc = unsafe { fib_lookup(ctx.ctx as *mut _, p, size_of::<bpf_fib_lookup>() as i32, 0) };
    if rc == FIB_NO_NEIGH {
        stats::nat_no_neigh(vip_id);
        return xdp_action::XDP_PASS;
    }
    if rc != FIB_SUCCESS {
        stats::nat_no_route(vip_id);
        return xdp_action::XDP_DROP;
    }
    let Some(eth) = ptr_at::<EthHdr>(ctx, 0) else {
        return xdp_action::XDP_DROP;
    };
    // SAFETY: `ptr_at` checked the bounds.
    unsafe {
        (*eth).dst_addr = p.dmac;
        (*eth).src_addr = p.smac;
    }
    if p.ifindex == ingress {
        xdp_action::XDP_TX
    } else {
        // SAFETY: a helper taking an interface index and no flags.
        unsafe { bpf_redirect(p.ifindex, 0) as u32 }
    }
}
