//! NAT forwarding (`forward = "nat"`): the maps that let the program rewrite
//! client→VIP:port into nat_source:nport→backend:port and the backend's
//! replies back into VIP:port→client.
//!
//! What user space writes:
//! - `NAT_CONFIG[0]`: a [`NatConfig`] (source addresses per family, the
//!   source-port range, the reuse delay). Until it is written (`port_min ==
//!   0`) no reply is looked for and a NAT VIP's new flows are dropped
//!   (`nat_no_port`).
//! - each backend of a NAT VIP: `Backend::forward = FORWARD_NAT` and
//!   `Backend::port_be` (its port; see lb_common::backend).
//! - `VipInfo::flags` of a NAT VIP's key: `VIP_F_NAT` (informative: the
//!   program forwards by the backend's `forward`, so one read decides).
//!
//! The program alone writes [`NAT_FWD`](crate::maps::NAT_FWD) and
//! [`NAT_REV`](crate::maps::NAT_REV); user space only reads them (`lb flows`
//! may show the NAT source port, the server-side close bits are in `FLOWS`).

use crate::addr::Addr16;

/// `Backend::forward`: L2 direct server return (the default).
pub const FORWARD_DSR: u8 = 0;
/// `Backend::forward`: full NAT, both directions through the balancer.
pub const FORWARD_NAT: u8 = 1;
/// `Backend::forward`: destination NAT only (`forward = "dnat"`): the
/// request keeps the client's address and port as its source, so the backend
/// sees the client; its replies come back through the balancer because it is
/// the backends' gateway. Uses the NAT maps (see [`NatForward`] and
/// [`NatReplyKey`] for what their fields hold then) and paths; only the
/// making of a translation differs: no source port is allocated, the reply
/// entry is keyed by the client's own address and port.
pub const FORWARD_DNAT: u8 = 2;

/// NAT source addresses per family in [`NatConfig`].
pub const NAT_SOURCES_PER_FAMILY: usize = 8;

/// Candidate source ports the program tries for a new NAT flow before it
/// gives up (counted `nat_no_port`, packet dropped). Candidates are
/// consecutive ports (wrapping in the range) from one derived from the flow
/// hash, the source address rotating with each try; so a range of at most
/// this many ports is searched exhaustively.
pub const NAT_PORT_TRIES: u32 = 16;

/// `NatConfig::flags`: no VIP forwards by DNAT, so a packet no VIP claims
/// is never a DNAT reply and the program skips the `VIP_PORTS` read that
/// asks whether its source port is a DNAT backend's. A skip bit rather than
/// a "DNAT present" bit: zero, the value of a config written before this
/// bit existed (an adopted map), keeps the check.
pub const NAT_CFG_NO_DNAT: u8 = 1;

/// Value of `NAT_CONFIG` (one slot), written by user space.
///
/// Capacity: one source port is one concurrent connection per (backend
/// address, backend port, NAT source address, protocol); so per backend
/// `(port_max - port_min + 1) × sources of its family`. The allocator tries
/// [`NAT_PORT_TRIES`] candidates, so a new flow can fail before the range is
/// full: with the range a fraction `f` full, in the worst case of clustered
/// ports about `f^16` of new flows find no port (`f = 0.75`: 1%).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct NatConfig {
    /// First source port handed out, host order; 0: NAT off.
    pub port_min: u16,
    /// Last source port handed out (inclusive), host order. The range must lie
    /// outside the kernel's ephemeral range (`net.ipv4.ip_local_port_range`,
    /// which IPv6 shares) and hold no port the balancer host listens on, so
    /// that a translated port never equals one of the host's own sockets
    /// toward a backend (health checks connect from the same address).
    pub port_max: u16,
    /// Entries of `sources_v4` in use (0 to `NAT_SOURCES_PER_FAMILY`).
    pub n_sources_v4: u8,
    /// Entries of `sources_v6` in use.
    pub n_sources_v6: u8,
    /// `NAT_CFG_*` bits.
    pub flags: u8,
    pub _pad: [u8; 1],
    /// A translation whose flow saw no packet in either direction for this
    /// long (coarse monotonic ns) may be taken over by a new flow. User
    /// space writes the flow idle timeout (UDP: `udp_idle_timeout`), at least
    /// 60 s so a backend's TIME_WAIT on the 4-tuple is over.
    pub reuse_after_ns: u64,
    /// IPv4 NAT source addresses (network order bytes).
    pub sources_v4: [[u8; 4]; NAT_SOURCES_PER_FAMILY],
    /// IPv6 NAT source addresses.
    pub sources_v6: [Addr16; NAT_SOURCES_PER_FAMILY],
}
const _: () = assert!(core::mem::size_of::<NatConfig>() == 176);

impl NatConfig {
    /// Number of ports in the range (0 when NAT is off).
    #[inline(always)]
    pub const fn range_len(&self) -> u32 {
        if self.port_min == 0 || self.port_max < self.port_min {
            0
        } else {
            (self.port_max - self.port_min) as u32 + 1
        }
    }

    /// False when no VIP forwards by DNAT ([`NAT_CFG_NO_DNAT`]).
    #[inline(always)]
    pub const fn dnat_replies_possible(&self) -> bool {
        self.flags & NAT_CFG_NO_DNAT == 0
    }

    /// True when `port` (host order) is one the allocator hands out.
    #[inline(always)]
    pub const fn in_range(&self, port: u16) -> bool {
        self.port_min != 0 && port >= self.port_min && port <= self.port_max
    }
}

/// Value of `NAT_FWD` (LRU hash keyed by the client→VIP [`FlowKey`](crate::flow::FlowKey),
/// IPv4 as IPv4-mapped): the translation a request packet gets. For a DNAT
/// flow `nat_addr` and `nat_port_be` are the client's own (the source is
/// kept), which is how user space tells the two apart.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct NatForward {
    /// The NAT source address the backend sees (IPv4-mapped for IPv4).
    pub nat_addr: Addr16,
    /// The allocated source port, network order.
    pub nat_port_be: u16,
    /// The backend's port when the translation was made, network order.
    pub backend_port_be: u16,
    /// The backend the translation was made for; another pick (a re-pick,
    /// a new connection on the 5-tuple) gets a new translation.
    pub backend_id: u32,
    /// Coarse monotonic ns of the latest request packet.
    pub last_seen_ns: u64,
}
const _: () = assert!(core::mem::size_of::<NatForward>() == 32);

/// Key of `NAT_REV` (LRU hash): a backend's reply as it arrives,
/// backend:port → nat_source:nport; for DNAT backend:port → client:port.
///
/// A DNAT key is exact (both ends of the reply), so two flows can only share
/// one when one client reaches the same backend:port through two VIPs from
/// the same address and port: the second is refused (`BPF_NOEXIST`, counted
/// `nat_no_port`), never translated as the first.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct NatReplyKey {
    /// The backend (the reply's source), IPv4-mapped for IPv4.
    pub backend: Addr16,
    /// The NAT source address (the reply's destination).
    pub nat_addr: Addr16,
    /// Network order.
    pub backend_port_be: u16,
    /// Network order.
    pub nat_port_be: u16,
    pub proto: u8,
    pub _pad: [u8; 3],
}
const _: () = assert!(core::mem::size_of::<NatReplyKey>() == 40);

/// Value of `NAT_REV`: what a reply is rewritten to, VIP:port → client:port.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct NatReply {
    pub client: Addr16,
    pub vip: Addr16,
    /// Network order.
    pub client_port_be: u16,
    /// Network order.
    pub vip_port_be: u16,
    /// The VIP and backend the replies count on.
    pub vip_id: u32,
    pub backend_id: u32,
    /// `NAT_REPLY_F_*` bits (0 in entries written before they existed,
    /// which then behave as a fresh translation's).
    pub flags: u32,
    /// Coarse monotonic ns of the latest reply (or of the translation's making).
    pub last_seen_ns: u64,
}
const _: () = assert!(core::mem::size_of::<NatReply>() == 56);

/// A reply of this translation has told the client's flow entry that the
/// flow is NAT (set by the first reply that found the entry; later replies
/// tell it only what changes its state, see the program's nat_reply.rs).
pub const NAT_REPLY_F_NOTED: u32 = 1;

/// Replies refresh the client's flow entry once per 2^30 ns (about a
/// second) of replies: see [`NatReply::tells_flow`].
pub const NAT_REPLY_REFRESH_SHIFT: u32 = 30;

impl NatReply {
    /// Whether a reply of this translation (`self` as it was before the
    /// reply) arriving at `now` goes on to the client's flow entry, which
    /// costs the reply path a second hash lookup: until a reply found that
    /// entry (the flow is NAT from then on; the SYN-ACK comes before the
    /// client's ACK makes it), the server's FIN or RST (the live count), and
    /// the first reply in each 2^[`NAT_REPLY_REFRESH_SHIFT`] ns window, so
    /// that replies keep the flow live as requests do (a server streaming to
    /// a silent UDP client). The replies in between, most of them, leave it
    /// alone: half the hash lookups of a keep-alive reply.
    #[inline(always)]
    pub const fn tells_flow(&self, now: u64, fin_or_rst: bool) -> bool {
        self.flags & NAT_REPLY_F_NOTED == 0
            || fin_or_rst
            || (now ^ self.last_seen_ns) >> NAT_REPLY_REFRESH_SHIFT != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_range_is_inclusive_and_zero_means_off() {
        let mut c = NatConfig::default();
        assert_eq!(c.range_len(), 0);
        assert!(!c.in_range(0));
        c.port_min = 61000;
        c.port_max = 61001;
        assert_eq!(c.range_len(), 2);
        assert!(c.in_range(61000) && c.in_range(61001));
        assert!(!c.in_range(60999) && !c.in_range(61002));
    }

    #[test]
    fn a_reply_tells_the_flow_what_changes_it_and_once_a_second() {
        let window = 1u64 << NAT_REPLY_REFRESH_SHIFT;
        let seen = 7 * window + 10;
        let fresh = NatReply {
            last_seen_ns: seen,
            ..NatReply::default()
        };
        // Until a reply found the flow entry: every reply.
        assert!(fresh.tells_flow(seen, false));
        let noted = NatReply {
            flags: NAT_REPLY_F_NOTED,
            ..fresh
        };
        // Noted: not a plain reply in the same window, however late in it...
        assert!(!noted.tells_flow(seen, false));
        assert!(!noted.tells_flow(8 * window - 1, false));
        // ...but the server's FIN or RST at once, and the first in the next window.
        assert!(noted.tells_flow(seen, true));
        assert!(noted.tells_flow(8 * window, false));
        assert!(noted.tells_flow(30 * window, false));
    }
}
