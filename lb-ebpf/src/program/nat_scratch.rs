//! Per-CPU scratch space for the NAT paths: the parsed packet handed over
//! by the VIP path, and the keys, values and FIB parameters the NAT paths
//! build. The verifier allows 512 bytes of stack for a whole chain of calls
//! and the VIP path's frame alone takes about 450, so these live in a map
//! value instead. The program's own space, never read by user space (and
//! not pinned: the attached program keeps it alive).

use aya_ebpf::{bindings::bpf_fib_lookup, macros::map, maps::PerCpuArray, programs::XdpContext};
use lb_common::{
    flow::FlowKey,
    nat::{NatForward, NatReply, NatReplyKey},
};

use crate::program::{nat_rewrite::Rewrite, packet::Packet, parse};

pub struct Scratch {
    /// The packet (see `scratch_with_packet`).
    pub packet: Packet,
    /// The client→VIP 5-tuple (request path).
    pub key: FlowKey,
    pub fwd: NatForward,
    pub rkey: NatReplyKey,
    pub reply: NatReply,
    pub to: Rewrite,
    pub fib: bpf_fib_lookup,
}

#[map]
static NAT_SCRATCH: PerCpuArray<Scratch> = PerCpuArray::with_max_entries(1, 0);

/// This CPU's scratch space.
#[inline(always)]
fn scratch() -> Option<&'static mut Scratch> {
    // SAFETY: this CPU's slot of a per-CPU array; XDP runs with preemption
    // off, so nothing else on this CPU uses it while one packet is handled.
    NAT_SCRATCH.get_ptr_mut(0).map(|s| unsafe { &mut *s })
}

/// This CPU's scratch space with the frame in `ctx` parsed into it again:
/// the NAT paths parse for themselves rather than take the VIP path's
/// `Packet` by reference or copy, either of which pushes that path's frame
/// past the limit. Not inlined: the parser's frame is gone before the NAT
/// path calls further.
#[inline(never)]
pub fn scratch_with_packet(ctx: &XdpContext) -> Option<&'static mut Scratch> {
    let s = scratch()?;
    s.packet = parse::try_parse(ctx).ok()?;
    Some(s)
}
