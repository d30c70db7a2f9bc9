//! Source-port allocation for new NAT flows.
//!
//! A port is taken for (backend address, backend port, NAT source address,
//! protocol) by inserting its `NAT_REV` entry with `BPF_NOEXIST`: the
//! insert that succeeds owns the port, so two flows (even on two CPUs) never
//! share one. Candidates: [`NAT_PORT_TRIES`] consecutive ports of the range
//! (wrapping) from one derived from the flow hash, the source address
//! rotating through the family's list with each try. A candidate held by a
//! translation idle in both directions for `reuse_after_ns` is taken over
//! (its forward entry removed). None left: the new flow is dropped and
//! counted `nat_no_port`; established flows are untouched.
//!
//! Ports come only from the configured range, which user space keeps
//! outside the kernel's ephemeral range, so they never collide with the
//! balancer host's own sockets.

use aya_ebpf::bindings::{BPF_ANY, BPF_NOEXIST};
use lb_common::{
    addr::{Addr16, v4_mapped, words},
    backend::Backend,
    flow::FlowKey,
    nat::{NAT_PORT_TRIES, NAT_SOURCES_PER_FAMILY, NatConfig, NatForward, NatReply, NatReplyKey},
};

use crate::program::{
    maps::{NAT_CONFIG, NAT_FWD, NAT_REV},
    nat_scratch::Scratch,
};

/// The backend a NAT packet goes to and the VIP it counts on.
pub struct Target {
    pub id: u32,
    pub vip_id: u32,
}

/// A new translation for the flow `s.key` (client→VIP) to `backend`
/// (`target`'s), recorded both ways and left in `s.fwd`; false when no
/// source port is free. Not inlined: its own frame, beside the VIP path's.
#[inline(never)]
pub fn allocate(s: &mut Scratch, backend: &Backend, target: &Target, now: u64) -> bool {
    let Some(cfg) = NAT_CONFIG.get(0) else {
        return false;
    };
    let v4 = s.packet.v4;
    let range = cfg.range_len();
    let sources = u32::from(if v4 {
        cfg.n_sources_v4
    } else {
        cfg.n_sources_v6
    });
    if range == 0 || sources == 0 {
        return false;
    }
    let hash = s.key.hash();
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
    for i in 0..NAT_PORT_TRIES {
        let offset = hash.wrapping_add(i).checked_rem(range).unwrap_or(0);
        let port = cfg.port_min.wrapping_add(offset as u16);
        let source = (hash >> 16)
            .wrapping_add(i)
            .checked_rem(sources)
            .unwrap_or(0);
        s.rkey = NatReplyKey {
            backend: backend.addr,
            nat_addr: source_addr(cfg, v4, source),
            backend_port_be: backend.port_be,
            nat_port_be: port.to_be(),
            proto: s.key.proto,
            _pad: [0; 3],
        };
        let taken = NAT_REV
            .insert(&s.rkey, &s.reply, u64::from(BPF_NOEXIST))
            .is_ok()
            || (take_over_stale(&s.rkey, cfg.reuse_after_ns, now)
                && NAT_REV
                    .insert(&s.rkey, &s.reply, u64::from(BPF_ANY))
                    .is_ok());
        if taken {
            s.fwd = NatForward {
                nat_addr: s.rkey.nat_addr,
                nat_port_be: s.rkey.nat_port_be,
                backend_port_be: backend.port_be,
                backend_id: target.id,
                last_seen_ns: now,
            };
            if NAT_FWD.insert(&s.key, &s.fwd, u64::from(BPF_ANY)).is_err() {
                // Without its forward entry the port would stay taken for nothing.
                let _ = NAT_REV.remove(&s.rkey);
                return false;
            }
            return true;
        }
    }
    false
}

/// Source address number `i` (< the family's count) of the config.
#[inline(always)]
fn source_addr(cfg: &NatConfig, v4: bool, i: u32) -> Addr16 {
    // The mask keeps the index provably in bounds (the count is at most 8).
    let i = (i as usize) & (NAT_SOURCES_PER_FAMILY - 1);
    if v4 {
        v4_mapped(cfg.sources_v4[i])
    } else {
        cfg.sources_v6[i]
    }
}

/// True when the translation holding `rkey` saw no reply, and its flow no
/// request, for `reuse_after` ns (0: never); its forward entry is removed.
/// Not inlined: its frame only exists on the rare collision. DNAT's reply
/// entries are taken over the same way (dnat.rs).
#[inline(never)]
pub fn take_over_stale(rkey: &NatReplyKey, reuse_after: u64, now: u64) -> bool {
    if reuse_after == 0 {
        return false;
    }
    // SAFETY: plain data copied out at once.
    let Some(held) = (unsafe { NAT_REV.get(rkey) }).copied() else {
        // Gone meanwhile (evicted): free again.
        return true;
    };
    if now.saturating_sub(held.last_seen_ns) < reuse_after {
        return false;
    }
    let owner = FlowKey::new(
        held.client,
        held.vip,
        held.client_port_be,
        held.vip_port_be,
        rkey.proto,
    );
    // SAFETY: as above.
    if let Some(fwd) = unsafe { NAT_FWD.get(&owner) }.copied() {
        let same = fwd.nat_port_be == rkey.nat_port_be
            && words(&fwd.nat_addr) == words(&rkey.nat_addr)
            && fwd.backend_id == held.backend_id;
        if same {
            if now.saturating_sub(fwd.last_seen_ns) < reuse_after {
                return false;
            }
            let _ = NAT_FWD.remove(&owner);
        }
    }
    true
}
