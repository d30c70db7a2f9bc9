//! NAT forwarding, reply direction: a backend:port→nat_source:nport packet
//! (DNAT: backend:port→client:port, dnat.rs)
//! with a translation in `NAT_REV` leaves as VIP:port→client:port, routed by
//! the kernel's FIB, and tells the client's flow entry that the server sent
//! FIN or RST (so the live count knows a connection the server closed).
//!
//! Looked for only among packets no VIP claimed, and only when the
//! destination port is in the NAT range or the source port is one a DNAT
//! backend listens on. A packet to a NAT source address
//! in that range with no translation is passed to the kernel untouched and
//! counted `nat_untranslated`: it may be the balancer host's own traffic,
//! or a late reply of a translation that is gone (a late reply from a NAT
//! backend's address and port is then dropped by the daemon's nftables
//! table, lb-userspace's dataplane::nat_guard; anything else the kernel
//! answers as it would any packet to a closed port). Malformed packets never get here:
//! the parser passes them untouched (global `drop_malformed`), as any
//! malformed packet not addressed to a VIP.

use aya_ebpf::{bindings::xdp_action, programs::XdpContext};
use lb_common::{
    addr::{Addr16, words},
    flow::{FLOW_F_NAT, FLOW_F_SERVER_FIN, FLOW_F_SERVER_RST, FlowKey, FlowKey4},
    nat::{NAT_REPLY_F_NOTED, NAT_SOURCES_PER_FAMILY, NatConfig, NatReplyKey},
};

use crate::program::{
    clock, dnat,
    error::{DropReason, Error},
    flow_key::Key,
    maps::{NAT_CONFIG, NAT_REV},
    nat_fib,
    nat_rewrite::{Rewrite, rewrite},
    nat_scratch::{Scratch, scratch_with_packet},
    packet::{Packet, TCP_FIN, TCP_RST},
    stats,
};

/// True when a packet no VIP claims may be a reply: to a port in the NAT
/// range (one array read), or, when some VIP forwards by DNAT, from a port
/// a DNAT backend listens on (another, see dnat.rs).
#[inline(always)]
pub fn may_be_reply(packet: &Packet) -> bool {
    NAT_CONFIG.get(0).is_some_and(|cfg| {
        cfg.in_range(u16::from_be(packet.key.dport_be))
            || (cfg.dnat_replies_possible()
                && dnat::may_be_reply(packet.key.sport_be, packet.key.proto))
    })
}

/// Translates and forwards a backend's reply in `ctx`; `Pass` for
/// anything else. Not inlined: its own
/// frame, beside the VIP path's.
#[inline(never)]
pub fn try_reply(ctx: &XdpContext) -> Result<u32, Error> {
    let s = scratch_with_packet(ctx).ok_or(Error::Pass)?;
    let cfg = NAT_CONFIG.get(0).ok_or(Error::Pass)?;
    if s.packet.icmp_error {
        return Err(Error::Pass);
    }
    let p = &s.packet;
    s.rkey = NatReplyKey {
        backend: p.key.src,
        nat_addr: p.key.dst,
        backend_port_be: p.key.sport_be,
        nat_port_be: p.key.dport_be,
        proto: p.key.proto,
        _pad: [0; 3],
    };
    let Some(entry) = NAT_REV.get_ptr_mut(&s.rkey) else {
        if is_nat_source(cfg, s.packet.v4, &s.packet.key.dst) {
            stats::nat_untranslated();
        }
        return Err(Error::Pass);
    };
    let now = clock::coarse_now_ns();
    // SAFETY: the pointer comes from a successful lookup; plain data.
    let entry = unsafe { &mut *entry };
    let tell = entry.tells_flow(now, s.packet.tcp_flags & (TCP_FIN | TCP_RST) != 0);
    if entry.last_seen_ns != now {
        entry.last_seen_ns = now;
    }
    s.reply = *entry;
    // Noted once the flow entry was there to hear it: the SYN-ACK comes
    // before the client's ACK makes it.
    if tell && note_on_flow(s, now) && entry.flags & NAT_REPLY_F_NOTED == 0 {
        entry.flags |= NAT_REPLY_F_NOTED;
    }
    let r = &s.reply;
    s.to = Rewrite {
        src: r.vip,
        dst: r.client,
        sport_be: r.vip_port_be,
        dport_be: r.client_port_be,
    };
    let (vip_id, backend_id) = (s.reply.vip_id, s.reply.backend_id);
    rewrite(ctx, &s.packet, &s.to).ok_or(Error::Drop {
        vip_id,
        reason: DropReason::Malformed,
    })?;
    let verdict = nat_fib::forward(ctx, s, vip_id);
    if verdict != xdp_action::XDP_DROP && verdict != xdp_action::XDP_PASS {
        stats::reply_forwarded(vip_id, backend_id, s.packet.frame_len);
    }
    Ok(verdict)
}

/// Marks the client's flow entry as NAT, with the server's FIN or RST, and
/// as seen now (a reply keeps the flow live as a request does); false when
/// the flow has no entry.
#[inline(always)]
fn note_on_flow(s: &Scratch, now: u64) -> bool {
    let (packet, r) = (&s.packet, &s.reply);
    let key = if packet.v4 {
        let v4 = |a: &Addr16| [a[12], a[13], a[14], a[15]];
        Key::V4(FlowKey4::new(
            v4(&r.client),
            v4(&r.vip),
            r.client_port_be,
            r.vip_port_be,
            packet.key.proto,
        ))
    } else {
        Key::V6(FlowKey::new(
            r.client,
            r.vip,
            r.client_port_be,
            r.vip_port_be,
            packet.key.proto,
        ))
    };
    let Some(flow) = key.entry() else {
        return false;
    };
    let mut flags = FLOW_F_NAT;
    if packet.tcp_flags & TCP_FIN != 0 {
        flags |= FLOW_F_SERVER_FIN;
    }
    if packet.tcp_flags & TCP_RST != 0 {
        flags |= FLOW_F_SERVER_RST;
    }
    // SAFETY: the pointer comes from a successful lookup; plain data.
    let flow = unsafe { &mut *flow };
    if flow.flags | flags != flow.flags {
        flow.flags |= flags;
    }
    if flow.last_seen_ns != now {
        flow.last_seen_ns = now;
    }
    true
}

/// True when `dst` is one of the NAT source addresses of its family.
#[inline(always)]
fn is_nat_source(cfg: &NatConfig, v4: bool, dst: &Addr16) -> bool {
    let dst = words(dst);
    let n = if v4 {
        cfg.n_sources_v4
    } else {
        cfg.n_sources_v6
    } as usize;
    let mut found = false;
    for i in 0..NAT_SOURCES_PER_FAMILY {
        let same = if v4 {
            u32::from_ne_bytes(cfg.sources_v4[i]) == dst[3]
        } else {
            words(&cfg.sources_v6[i]) == dst
        };
        found |= i < n && same;
    }
    found
}
