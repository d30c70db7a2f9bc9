//! The flow table: which backend a packet goes to.
//!
//! A known flow keeps its backend as long as that backend keeps flows (ACTIVE,
//! DRAINING, DRAINED): this affinity is what lets a draining backend finish its
//! connections. A flow whose backend went DOWN, or a SYN reusing the 5-tuple of
//! a flow that already closed, is picked anew.

use aya_ebpf::helpers::bpf_ktime_get_ns;
use lb_common::{
    backend::{Backend, STATE_DOWN, STATE_DRAINING, STATE_EMPTY},
    flow::{FLOW_F_FIN, FLOW_F_PAYLOAD, FLOW_F_RST, FlowInfo, FlowKey},
    vip::{PROTO_TCP, VipInfo},
};

use crate::program::{
    error::{DropReason, Error},
    maglev,
    maps::{BACKENDS, DRAIN_FLOWS, FLOWS},
    parse::{Packet, TCP_FIN, TCP_RST, TCP_SYN},
    stats,
};

/// The backend a packet is forwarded to.
pub struct Target {
    pub id: u32,
    pub mac: [u8; 6],
}

impl Target {
    #[inline(always)]
    fn of(id: u32, backend: &Backend) -> Self {
        Self {
            id,
            mac: backend.mac,
        }
    }
}

/// The `FLOW_F_*` bits this packet sets.
#[inline(always)]
fn flags_of(packet: &Packet) -> u32 {
    let mut flags = 0;
    if packet.tcp_flags & TCP_FIN != 0 {
        flags |= FLOW_F_FIN;
    }
    if packet.tcp_flags & TCP_RST != 0 {
        flags |= FLOW_F_RST;
    }
    if packet.has_payload {
        flags |= FLOW_F_PAYLOAD;
    }
    flags
}

/// Finds or makes the flow of `packet` and returns its backend.
#[inline(always)]
pub fn try_backend_for(packet: &Packet, vip: &VipInfo) -> Result<Target, Error> {
    let key = FlowKey::new(
        packet.src,
        packet.dst,
        packet.sport_be,
        packet.dport_be,
        packet.proto,
    );
    // SAFETY: a helper with no arguments.
    let now = unsafe { bpf_ktime_get_ns() };
    let flags = flags_of(packet);
    let syn = packet.proto == PROTO_TCP && packet.tcp_flags & TCP_SYN != 0;
    let syn_seq = if syn { packet.seq } else { 0 };

    match FLOWS.get_ptr_mut(key) {
        Some(flow) => {
            // SAFETY: the pointer comes from a successful lookup; the entry is this
            // flow's, touched by the CPU its packets arrive on.
            let flow = unsafe { &mut *flow };
            // A SYN other than a retransmission of the one that opened the flow
            // starts a new connection on a reused 5-tuple: the old one was
            // closed, or reset by its backend (which DSR never shows us).
            let reused = syn && (flow.is_closing() || flow.syn_seq != packet.seq);
            if reused && !flow.is_closing() {
                stats::flow_closed(vip.vip_id, flow.backend_id);
            }
            if let Some(backend) = BACKENDS.get(flow.backend_id) {
                if backend.keeps_flows() && !reused {
                    let was_closing = flow.is_closing();
                    flow.last_seen_ns = now;
                    if flow.flags | flags != flow.flags {
                        flow.flags |= flags;
                        if !was_closing && flow.is_closing() {
                            stats::flow_closed(vip.vip_id, flow.backend_id);
                        }
                    }
                    return Ok(Target::of(flow.backend_id, backend));
                }
                let target = try_new_flow(&key, vip, now, flags, syn_seq)?;
                if backend.state == STATE_DOWN && !reused {
                    stats::repicked(vip.vip_id);
                }
                return Ok(target);
            }
            try_new_flow(&key, vip, now, flags, syn_seq)
        }
        None => {
            // No entry, and not the start of a connection: the entry may have
            // been evicted from a full table. If the flow is one of a draining
            // backend's (recorded when its drain began), it goes back there.
            if !syn && let Some(target) = second_chance(&key, vip, now, flags) {
                stats::second_chance(vip.vip_id, target.id);
                return Ok(target);
            }
            try_new_flow(&key, vip, now, flags, syn_seq)
        }
    }
}

/// The draining backend `DRAIN_FLOWS` names for this flow, with its entry recreated.
#[inline(always)]
fn second_chance(key: &FlowKey, vip: &VipInfo, now: u64, flags: u32) -> Option<Target> {
    // SAFETY: the value is a plain u32 copied out at once.
    let id = *unsafe { DRAIN_FLOWS.get(key) }?;
    let backend = BACKENDS.get(id)?;
    if backend.state != STATE_DRAINING {
        return None;
    }
    record(key, vip, now, flags, 0, id);
    Some(Target::of(id, backend))
}

/// Picks a backend from the VIP's live Maglev table and records the flow.
#[inline(always)]
fn try_new_flow(
    key: &FlowKey,
    vip: &VipInfo,
    now: u64,
    flags: u32,
    syn_seq: u32,
) -> Result<Target, Error> {
    let no_backend = Error::Drop {
        vip_id: vip.vip_id,
        reason: DropReason::NoBackend,
    };
    let id = maglev::pick(vip.vip_id, key.hash()).ok_or(no_backend)?;
    let backend = BACKENDS.get(id).ok_or(Error::Drop {
        vip_id: vip.vip_id,
        reason: DropReason::NoBackend,
    })?;
    if backend.state == STATE_EMPTY {
        return Err(Error::Drop {
            vip_id: vip.vip_id,
            reason: DropReason::NoBackend,
        });
    }
    record(key, vip, now, flags, syn_seq, id);
    Ok(Target::of(id, backend))
}

/// Inserts the flow's entry and counts it.
#[inline(always)]
fn record(key: &FlowKey, vip: &VipInfo, now: u64, flags: u32, syn_seq: u32, id: u32) {
    let info = FlowInfo {
        backend_id: id,
        flags,
        created_ns: now,
        last_seen_ns: now,
        syn_seq,
        _pad: 0,
    };
    // An insert can only fail for lack of memory; the packet still goes to the
    // pick, which the next packet of the flow will find again.
    let _ = FLOWS.insert(key, info, 0);
    stats::flow_opened(vip.vip_id, id, info.is_closing());
}
