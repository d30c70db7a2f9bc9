//! NAT forwarding, request direction: a client→VIP:port packet whose
//! backend (picked exactly as for DSR: flow table, handshakes, Maglev,
//! drain states, second chance) forwards by NAT leaves as
//! nat_source:nport→backend:port, routed by the kernel's FIB; by DNAT, as
//! client:cport→backend:port (dnat.rs: the same path, another translation).
//!
//! The translation lives in `NAT_FWD` (by the client's 5-tuple) and
//! `NAT_REV` (by the reply's 5-tuple, see nat_reply.rs). A flow keeps its
//! translation while it keeps its backend; a flow that moves (admin DOWN,
//! a new connection on the 5-tuple picked elsewhere) gets a new one and its
//! old reply entry is removed. Entries end with LRU eviction (each map holds
//! `max_flows`) or when a new flow takes over a translation idle for
//! `NatConfig::reuse_after_ns` (see nat_alloc.rs).

use aya_ebpf::{bindings::xdp_action, programs::XdpContext};
use lb_common::{backend::Backend, nat::NatReplyKey};

use crate::program::{
    clock, dnat,
    error::{DropReason, Error},
    maps::{BACKENDS, NAT_FWD, NAT_REV},
    nat_alloc::{self, Target},
    nat_fib,
    nat_rewrite::{Rewrite, rewrite},
    nat_scratch::{Scratch, scratch_with_packet},
    stats,
};

/// Translates and forwards the request packet in `ctx` to backend `backend_id` of VIP `vip_id`.
///
/// A function of its own, not inlined: its frame sits beside the VIP
/// path's, not inside it (see mod.rs).
#[inline(never)]
pub fn try_request(ctx: &XdpContext, backend_id: u32, vip_id: u32) -> Result<u32, Error> {
    let s = scratch_with_packet(ctx).ok_or(Error::Pass)?;
    // ICMP errors about a NAT flow are the kernel's business (the balancer,
    // not the backend, sent what they are about).
    if s.packet.icmp_error {
        return Err(Error::Pass);
    }
    let target = Target {
        id: backend_id,
        vip_id,
    };
    let backend = BACKENDS.get(backend_id).ok_or(Error::Drop {
        vip_id,
        reason: DropReason::NoBackend,
    })?;
    let p = &s.packet;
    s.key = p.key;
    let now = clock::coarse_now_ns();
    if !translation(s, backend, &target, now) {
        // NAT: no free source port; DNAT: the reply 5-tuple is another
        // flow's (see dnat.rs). Either way the new flow cannot be told
        // apart from another on the way back.
        stats::nat_no_port(vip_id);
        return Ok(xdp_action::XDP_DROP);
    }
    s.to = Rewrite {
        src: s.fwd.nat_addr,
        dst: backend.addr,
        sport_be: s.fwd.nat_port_be,
        dport_be: backend.port_be,
    };
    rewrite(ctx, &s.packet, &s.to).ok_or(Error::Drop {
        vip_id,
        reason: DropReason::Malformed,
    })?;
    let verdict = nat_fib::forward(ctx, s, vip_id);
    if verdict != xdp_action::XDP_DROP && verdict != xdp_action::XDP_PASS {
        stats::forwarded(vip_id, backend_id, s.packet.frame_len);
    }
    Ok(verdict)
}

/// The flow's translation, into `s.fwd`: its current one if made for this
/// very backend and port, else a new one; false when no port is free.
#[inline(always)]
fn translation(s: &mut Scratch, backend: &Backend, target: &Target, now: u64) -> bool {
    if let Some(fwd) = NAT_FWD.get_ptr_mut(&s.key) {
        // SAFETY: the pointer comes from a successful lookup; the entry is
        // this flow's, written by the CPU its packets arrive on.
        let fwd = unsafe { &mut *fwd };
        if fwd.backend_id == target.id && fwd.backend_port_be == backend.port_be {
            if fwd.last_seen_ns != now {
                fwd.last_seen_ns = now;
            }
            s.fwd = *fwd;
            return true;
        }
        // The flow moved: its old reply entry goes (replies from the old
        // backend are the kernel's from now on).
        s.fwd = *fwd;
        forget_reply(s);
    }
    if backend.is_dnat() {
        dnat::bind(s, backend, target, now)
    } else {
        nat_alloc::allocate(s, backend, target, now)
    }
}

/// Removes the reply entry of the flow's old translation `s.fwd`.
#[inline(always)]
fn forget_reply(s: &mut Scratch) {
    let Some(old) = BACKENDS.get(s.fwd.backend_id) else {
        return;
    };
    s.rkey = NatReplyKey {
        backend: old.addr,
        nat_addr: s.fwd.nat_addr,
        backend_port_be: s.fwd.backend_port_be,
        nat_port_be: s.fwd.nat_port_be,
        proto: s.key.proto,
        _pad: [0; 3],
    };
    let _ = NAT_REV.remove(&s.rkey);
}
