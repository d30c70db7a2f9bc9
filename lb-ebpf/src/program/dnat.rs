//! DNAT forwarding (`forward = "dnat"`): what differs from NAT. A request
//! client:cport→VIP:port leaves as client:cport→backend:port (only the
//! destination changes, so the backend sees the client), and the backend's
//! reply backend:port→client:cport, which comes back through the balancer
//! because it is the backends' gateway, leaves as VIP:port→client:cport.
//!
//! Everything else is NAT's (nat.rs, nat_reply.rs): the same maps, the same
//! per-packet work (one `NAT_FWD` lookup per request, one `NAT_REV` lookup
//! per reply, rewrite, FIB). Only the making of a translation differs
//! ([`bind`]): no source port is allocated; the reply entry is keyed by
//! backend:port and client:cport, exact, so it is found for the replies of
//! this flow only. Two VIPs sending one client address and port to the same
//! backend:port would share it: the second flow is refused.

use aya_ebpf::bindings::{BPF_ANY, BPF_NOEXIST};
use lb_common::{
    addr::words,
    backend::Backend,
    maps::{VIP_PORT_DNAT_TCP, VIP_PORT_DNAT_UDP},
    nat::{NatForward, NatReply, NatReplyKey},
    vip::PROTO_TCP,
};

use crate::program::{
    maps::{NAT_CONFIG, NAT_FWD, NAT_REV, VIP_PORTS},
    nat_alloc::{Target, take_over_stale},
    nat_scratch::Scratch,
};

/// True when a packet no VIP claims, from `sport_be`, may be a DNAT
/// backend's reply: some DNAT backend listens on that port (one array
/// read, the `VIP_PORTS` entry of the source port).
#[inline(always)]
pub fn may_be_reply(sport_be: u16, proto: u8) -> bool {
    let bit = if proto == PROTO_TCP {
        VIP_PORT_DNAT_TCP
    } else {
        VIP_PORT_DNAT_UDP
    };
    VIP_PORTS
        .get(u32::from(u16::from_be(sport_be)))
        .is_some_and(|bits| bits & bit != 0)
}

/// The DNAT translation of the flow `s.key` (client→VIP) to `backend`
/// (`target`'s), recorded both ways and left in `s.fwd`: the source kept,
/// the reply entry taken with `BPF_NOEXIST`. False when another flow holds
/// that reply entry (another VIP's connection from the same client address
/// and port to the same backend:port, not idle for the reuse delay): the
/// caller drops the packet and counts it. Not inlined: its own frame,
/// beside the VIP path's.
#[inline(never)]
pub fn bind(s: &mut Scratch, backend: &Backend, target: &Target, now: u64) -> bool {
    s.reply = NatReply {
        client: s.key.src,
        vip: s.key.dst,
        client_port_be: s.key.sport_be,
        vip_port_be: s.key.dport_be,
        vip_id: target.vip_id,
        backend_id: target.id,
        flags: 0,
        last_seen_ns: now,
    };
    s.rkey = NatReplyKey {
        backend: backend.addr,
        nat_addr: s.key.src,
        backend_port_be: backend.port_be,
        nat_port_be: s.key.sport_be,
        proto: s.key.proto,
        _pad: [0; 3],
    };
    let taken = NAT_REV
        .insert(&s.rkey, &s.reply, u64::from(BPF_NOEXIST))
        .is_ok()
        || (held_by_this_flow_or_stale(s, now)
            && NAT_REV
                .insert(&s.rkey, &s.reply, u64::from(BPF_ANY))
                .is_ok());
    if !taken {
        return false;
    }
    s.fwd = NatForward {
        nat_addr: s.key.src,
        nat_port_be: s.key.sport_be,
        backend_port_be: backend.port_be,
        backend_id: target.id,
        last_seen_ns: now,
    };
    if NAT_FWD.insert(&s.key, &s.fwd, u64::from(BPF_ANY)).is_err() {
        // Without its forward entry the reply entry would hold the key for nothing.
        let _ = NAT_REV.remove(&s.rkey);
        return false;
    }
    true
}

/// True when the reply entry `s.rkey` may be overwritten with `s.reply`:
/// it is this very flow's (same client, VIP and ports; its `NAT_FWD` entry
/// was evicted, or the flow came back to this backend), or its owner was
/// idle in both directions for NAT's reuse delay (as a NAT source port is
/// taken over, nat_alloc.rs).
#[inline(always)]
fn held_by_this_flow_or_stale(s: &Scratch, now: u64) -> bool {
    // SAFETY: plain data copied out at once.
    let Some(held) = (unsafe { NAT_REV.get(&s.rkey) }).copied() else {
        // Gone meanwhile (evicted): free again.
        return true;
    };
    let ours = words(&held.vip) == words(&s.reply.vip)
        && held.vip_port_be == s.reply.vip_port_be
        && words(&held.client) == words(&s.reply.client)
        && held.client_port_be == s.reply.client_port_be;
    if ours {
        return true;
    }
    let reuse_after = NAT_CONFIG.get(0).map_or(0, |c| c.reuse_after_ns);
    take_over_stale(&s.rkey, reuse_after, now)
}
