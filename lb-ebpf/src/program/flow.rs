//! The flow table: which backend a packet goes to.
//!
//! A known flow keeps its backend as long as that backend keeps flows (ACTIVE,
//! DRAINING, DRAINED, UNHEALTHY): this affinity is what lets a draining backend
//! finish its connections, and a backend that failed a few health checks
//! finish its own. A flow whose backend an operator took DOWN (or removed), or
//! a SYN reusing the 5-tuple of a flow that already closed, is picked anew.

use lb_common::{
    backend::{Backend, STATE_ACTIVE, STATE_DOWN, STATE_DRAINING, STATE_EMPTY},
    flow::{
        FIN_RETRANSMIT_WINDOW, FIN_SEGMENT_MAX, FLOW_F_CLOSING, FLOW_F_FIN, FLOW_F_NAT,
        FLOW_F_PAYLOAD, FLOW_F_RST, FlowInfo,
    },
    vip::{PROTO_TCP, VIP_F_DRAINING, VipInfo},
};

use crate::program::{
    admit, clock,
    error::{DropReason, Error},
    flow_key::Key,
    maglev,
    maps::{BACKENDS, DRAIN_FLOWS},
    packet::{Packet, TCP_FIN, TCP_RST, TCP_SYN},
    stats, vip,
};

/// The backend a packet is forwarded to, and the VIP it counts on.
#[derive(Clone, Copy)]
pub struct Target {
    pub id: u32,
    pub mac: [u8; 6],
    pub vip_id: u32,
    /// The backend's VIP forwards by NAT (nat.rs), not DSR (forward.rs).
    pub nat: bool,
}

impl Target {
    #[inline(always)]
    fn of(id: u32, backend: &Backend, vip_id: u32) -> Self {
        // SAFETY: `mac` sits at offset 16 of the 4-aligned `Backend` (a map
        // value, size-asserted in lb-common): read as a u32 and a u16, not
        // as six bytes.
        let mac = unsafe {
            let at = backend.mac.as_ptr();
            let lo = at.cast::<u32>().read().to_ne_bytes();
            let hi = at.add(4).cast::<u16>().read().to_ne_bytes();
            [lo[0], lo[1], lo[2], lo[3], hi[0], hi[1]]
        };
        Self {
            id,
            mac,
            vip_id,
            nat: backend.is_nat(),
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
///
/// A known flow needs one hash lookup (`FLOWS`); the VIP (`VIPS`) is looked up
/// only when a flow is made or moved.
#[inline(always)]
pub fn try_backend_for(packet: &Packet) -> Result<Target, Error> {
    let key = Key::of(packet);
    if packet.icmp_error {
        return try_flow_of_icmp_error(&key);
    }
    // The coarse clock (to the tick) is all idle timeouts in seconds need;
    // consecutive packets within one tick then leave `last_seen_ns` unwritten.
    let now = clock::coarse_now_ns();
    let flags = flags_of(packet);
    let syn = packet.key.proto == PROTO_TCP && packet.tcp_flags & TCP_SYN != 0;
    // The SYN's sequence number, or a FIN's or RST's (see `FlowInfo::client_seq`).
    let client_seq = if syn || flags & FLOW_F_CLOSING != 0 {
        packet.seq
    } else {
        0
    };

    let found = key.entry();
    if let Some(flow) = found {
        // SAFETY: the pointer comes from a successful lookup; the entry is this
        // flow's, touched by the CPU its packets arrive on.
        let flow = unsafe { &mut *flow };
        // A SYN other than a retransmission of the one that opened the flow
        // starts a new connection on a reused 5-tuple: the old one was
        // closed, or reset by its backend (which DSR never shows us).
        let reused = syn && (flow.is_closing() || flow.client_seq != packet.seq);
        let backend = BACKENDS.get(flow.backend_id);
        // The SYN that made the entry, retransmitted before any payload: the
        // client has no connection yet (a client retransmits its SYN only
        // until the SYN-ACK arrives), so a backend that stopped taking new
        // ones (a drain began, its checks failed) is left for the live pick,
        // as a retransmitted SYN without an entry is.
        let retried_on_stopped = syn
            && !reused
            && flow.flags & FLOW_F_PAYLOAD == 0
            && backend.is_some_and(|b| b.state != STATE_ACTIVE);
        if !reused
            && !retried_on_stopped
            && let Some(backend) = backend
            && backend.keeps_flows()
        {
            if flow.last_seen_ns != now {
                flow.last_seen_ns = now;
            }
            if flow.is_closing() && reopens(flow, packet, flags) {
                flow.flags = (flow.flags & !FLOW_F_CLOSING) | flags;
                flow.client_seq = 0;
                stats::flow_opened(flow.vip_id, flow.backend_id, false);
            } else if flow.flags | flags != flow.flags {
                let was_closing = flow.is_closing();
                flow.flags |= flags;
                if !was_closing && flow.is_closing() {
                    flow.client_seq = client_seq;
                    stats::flow_closed(flow.vip_id, flow.backend_id);
                }
            }
            return Ok(Target::of(flow.backend_id, backend, flow.vip_id));
        }
        // The flow moves: a new connection, or its backend is admin DOWN or gone.
        let vip = vip::try_vip(packet)?;
        if reused {
            forget_drain_record(&key, &vip);
            if !flow.is_closing() {
                stats::flow_closed(vip.vip_id, flow.backend_id);
            }
        }
        let moved_off_down = !reused && backend.is_some_and(|b| b.state == STATE_DOWN);
        let target = try_new_flow(
            &key,
            key.hash(),
            &vip,
            now,
            flags,
            client_seq,
            RecordIn::Entry(flow),
        )?;
        if moved_off_down {
            stats::repicked(vip.vip_id);
        }
        return Ok(target);
    }

    let vip = vip::try_vip(packet)?;
    let hash = key.hash();
    if syn {
        // A retransmission of a SYN still waiting for its ACK: same backend,
        // while that backend takes new connections. One that stopped (a drain
        // began, or its checks failed) gets the live pick instead: the client
        // has no connection yet (its SYN or the SYN-ACK was lost), and a
        // draining backend may have closed its listener (the RST would reach
        // the client); the other one at most holds a half-open connection
        // that expires. Only a SYN-ACK delayed past the client's
        // retransmission timeout, then ACKed, would lose here.
        if let Some(h) = admit::handshake(&key, hash)
            && h.client_seq == packet.seq
            && let Some(backend) = BACKENDS.get(h.backend_id)
            && backend.state == STATE_ACTIVE
        {
            return Ok(Target::of(h.backend_id, backend, h.vip_id));
        }
        // A new connection: its pick waits in HANDSHAKES for the first ACK
        // (see admit.rs), so a SYN flood cannot empty the flow table.
        forget_drain_record(&key, &vip);
        return try_new_flow(
            &key,
            hash,
            &vip,
            now,
            flags,
            client_seq,
            RecordIn::Handshake,
        );
    }
    // The handshake's first ACK: the flow gets its entry, on its SYN's
    // backend. Before the second chance: a handshake in progress is a newer
    // connection than any a drain recorded on the same 5-tuple.
    if let Some(syn) = admit::handshake(&key, hash) {
        return confirm(&key, hash, syn, now, flags);
    }
    // No entry, and not the start of a connection: the entry may have been
    // evicted from a full table. If the flow is one of a draining backend's
    // (recorded when its drain began), it goes back there.
    if let Some(target) = second_chance(&key, &vip, now, flags, client_seq) {
        stats::second_chance(vip.vip_id, target.id);
        return Ok(target);
    }
    // Anything else takes an entry only within this CPU's budget.
    let into = if admit::orphan_may_record(flags, now) {
        RecordIn::NewEntry
    } else {
        if flags & FLOW_F_CLOSING == 0 {
            stats::unrecorded(vip.vip_id);
        }
        RecordIn::Nowhere
    };
    try_new_flow(&key, hash, &vip, now, flags, client_seq, into)
}

/// Whether the client's `packet` on a closed DSR flow belongs to a later
/// connection on the same 5-tuple (see `FLOW_F_CLOSING`): neither FIN nor
/// RST (nor SYN: that one starts a new flow before this is asked), and
/// outside the closed connection's own sequence numbers around the FIN or
/// RST that closed it. Such a connection's SYN went to another balancer,
/// and the router moved it here mid-connection; a stream's client then sends
/// only ACKs, so data is not required. NAT flows are left alone: a
/// translation made on another balancer cannot be moved.
#[inline(always)]
fn reopens(flow: &FlowInfo, packet: &Packet, flags: u32) -> bool {
    if flags & FLOW_F_CLOSING != 0 || flow.flags & FLOW_F_NAT != 0 {
        return false;
    }
    let from = flow.client_seq.wrapping_sub(FIN_RETRANSMIT_WINDOW);
    packet.seq.wrapping_sub(from) > FIN_RETRANSMIT_WINDOW + FIN_SEGMENT_MAX
}

/// Makes the flow entry of a completed handshake, unless this first segment
/// after the SYN already ends the connection (then it is only forwarded).
#[inline(always)]
fn confirm(key: &Key, hash: u32, syn: FlowInfo, now: u64, flags: u32) -> Result<Target, Error> {
    let backend = BACKENDS.get(syn.backend_id).ok_or(Error::Drop {
        vip_id: syn.vip_id,
        reason: DropReason::NoBackend,
    })?;
    if flags & FLOW_F_CLOSING == 0 {
        let info = FlowInfo {
            flags: syn.flags | flags,
            last_seen_ns: now,
            ..syn
        };
        key.insert(&info);
        admit::end_handshake(hash);
        stats::confirmed(syn.vip_id);
    }
    Ok(Target::of(syn.backend_id, backend, syn.vip_id))
}

/// The backend of the flow an ICMP error is about (see icmp.rs); `Pass` to
/// the kernel if there is none. Never makes or moves a flow.
#[inline(always)]
fn try_flow_of_icmp_error(key: &Key) -> Result<Target, Error> {
    let flow = key.entry().ok_or(Error::Pass)?;
    // SAFETY: the pointer comes from a successful lookup; plain reads.
    let (id, vip_id) = unsafe { ((*flow).backend_id, (*flow).vip_id) };
    match BACKENDS.get(id) {
        Some(backend) if backend.keeps_flows() => Ok(Target::of(id, backend, vip_id)),
        _ => Err(Error::Pass),
    }
}

/// The draining backend `DRAIN_FLOWS` names for this flow, with its entry recreated.
#[inline(always)]
fn second_chance(
    key: &Key,
    vip: &VipInfo,
    now: u64,
    flags: u32,
    client_seq: u32,
) -> Option<Target> {
    // SAFETY: the value is a plain u32 copied out at once.
    let id = *unsafe { DRAIN_FLOWS.get(&key.wide()) }?;
    let backend = BACKENDS.get(id)?;
    if backend.state != STATE_DRAINING {
        return None;
    }
    record(key, 0, vip, now, flags, client_seq, id, RecordIn::NewEntry);
    Some(Target::of(id, backend, vip.vip_id))
}

/// Drops the `DRAIN_FLOWS` record of this 5-tuple, if any: a SYN that starts
/// a new connection on it proves the recorded one over (a client reuses a
/// 5-tuple only once its connection is gone). Without this, the new
/// connection's packets that miss the flow table (its first ACK when a SYN
/// flood overwrote its handshake slot, or any later one after an eviction)
/// would be sent to the draining backend, which answers with a reset; the
/// lab's flood test hit it: a port reused 8 s after a connection on the
/// draining backend whose record user space still held. One lookup, a
/// delete only on a hit.
///
/// Only while the VIP has a draining backend (`VIP_F_DRAINING`): the lookup
/// in a large hash costs a new connection about as much as the rest of its
/// path, and at any other time a record sends nothing anywhere
/// (`second_chance` honours one only while its backend is DRAINING).
#[inline(always)]
fn forget_drain_record(key: &Key, vip: &VipInfo) {
    if vip.flags & VIP_F_DRAINING == 0 {
        return;
    }
    let wide = key.wide();
    // SAFETY: only tests for presence; the value is not read.
    if unsafe { DRAIN_FLOWS.get(&wide) }.is_some() {
        let _ = DRAIN_FLOWS.remove(&wide);
    }
}

/// Where a new pick is recorded.
enum RecordIn<'a> {
    /// The flow's current entry, rewritten in place.
    Entry(&'a mut FlowInfo),
    /// A new flow entry.
    NewEntry,
    /// `HANDSHAKES`, until the first ACK.
    Handshake,
    /// Nowhere: forwarded only.
    Nowhere,
}

/// Picks a backend from the VIP's live Maglev table and records the flow
/// where `into` says.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn try_new_flow(
    key: &Key,
    hash: u32,
    vip: &VipInfo,
    now: u64,
    flags: u32,
    client_seq: u32,
    into: RecordIn,
) -> Result<Target, Error> {
    let no_backend = Error::Drop {
        vip_id: vip.vip_id,
        reason: DropReason::NoBackend,
    };
    let id = maglev::pick(vip.vip_id, hash).ok_or(no_backend)?;
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
    record(key, hash, vip, now, flags, client_seq, id, into);
    Ok(Target::of(id, backend, vip.vip_id))
}

/// Writes the flow where `into` says and counts it.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn record(
    key: &Key,
    hash: u32,
    vip: &VipInfo,
    now: u64,
    flags: u32,
    client_seq: u32,
    id: u32,
    into: RecordIn,
) {
    let info = FlowInfo {
        backend_id: id,
        flags,
        created_ns: now,
        last_seen_ns: now,
        client_seq,
        vip_id: vip.vip_id,
    };
    match into {
        // A new connection on a 5-tuple still in the table (ports recycle
        // quickly under load), or a flow leaving an admin-DOWN backend: the entry the
        // lookup found is rewritten where it is, which spares the LRU map
        // taking a fresh node and freeing the old one, the dearest part of an
        // insert. The lookup already marked the entry recently used.
        RecordIn::Entry(entry) => *entry = info,
        RecordIn::NewEntry => key.insert(&info),
        RecordIn::Handshake => admit::start_handshake(key, hash, &info),
        RecordIn::Nowhere => return,
    }
    stats::flow_opened(vip.vip_id, id, info.is_closing());
}
