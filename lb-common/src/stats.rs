//! The per-CPU counter maps `VIP_STATS`, `BACKEND_STATS` and `GLOBAL_STATS`.
//!
//! One value type for all three; each field says where it moves. User space sums
//! the per-CPU values. The program only ever adds to its own CPU's copy.

/// Value of the counter maps.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Counters {
    /// VIP, backend: packets forwarded. Global: packets passed to the stack.
    pub packets: u64,
    /// VIP, backend: bytes forwarded (whole frames). Global: bytes passed.
    pub bytes: u64,
    /// VIP, backend: flows created (first packet, re-pick or second chance).
    pub new_flows: u64,
    /// VIP, backend: flows whose client sent its first FIN or RST.
    pub closed_flows: u64,
    /// VIP, backend: packets with no flow entry that `DRAIN_FLOWS` sent back to
    /// their draining backend (the entry is recreated).
    pub second_chance: u64,
    /// VIP: flows moved off a DOWN backend.
    pub repicked: u64,
    /// VIP: dropped, truncated or malformed. Global: malformed non-VIP packets passed.
    pub drop_malformed: u64,
    /// VIP: dropped, a non-first IP fragment.
    pub drop_fragment: u64,
    /// VIP: dropped, no ACTIVE backend in the table.
    pub drop_no_backend: u64,
    /// VIP: handshakes whose first ACK made the flow entry (a SYN counts in
    /// `new_flows` when it is picked; a SYN flood shows as `new_flows` far
    /// above `confirmed`).
    pub confirmed: u64,
    /// VIP: packets without a flow entry or a handshake forwarded to the live
    /// pick without an entry, because this CPU's budget of such entries for
    /// the second was spent (an ACK flood shows here).
    pub unrecorded: u64,
    /// NAT. VIP, backend: backend replies translated and forwarded to the client.
    pub reply_packets: u64,
    /// NAT. VIP, backend: bytes of those replies (whole frames).
    pub reply_bytes: u64,
    /// NAT. VIP: new flows dropped because no source port was free for
    /// their backend (see lb_common::nat::NatConfig for the capacity).
    pub nat_no_port: u64,
    /// NAT. VIP: translated packets (either direction) passed to the kernel
    /// because the FIB had no neighbour entry for the next hop yet; the
    /// kernel forwards them and resolves it.
    pub nat_no_neigh: u64,
    /// NAT. VIP: translated packets dropped, the FIB has no route (or the
    /// route is not forwardable: blackhole, prohibit, unreachable).
    pub nat_no_route: u64,
    /// Global: packets to a NAT source address at a port of the NAT range
    /// with no translation, passed to the kernel (the balancer host's own
    /// traffic, or a reply to a translation that expired).
    pub nat_untranslated: u64,
}
const _: () = assert!(core::mem::size_of::<Counters>() == 136);

#[cfg(feature = "user")]
impl core::ops::AddAssign for Counters {
    fn add_assign(&mut self, o: Self) {
        self.packets += o.packets;
        self.bytes += o.bytes;
        self.new_flows += o.new_flows;
        self.closed_flows += o.closed_flows;
        self.second_chance += o.second_chance;
        self.repicked += o.repicked;
        self.drop_malformed += o.drop_malformed;
        self.drop_fragment += o.drop_fragment;
        self.drop_no_backend += o.drop_no_backend;
        self.confirmed += o.confirmed;
        self.unrecorded += o.unrecorded;
        self.reply_packets += o.reply_packets;
        self.reply_bytes += o.reply_bytes;
        self.nat_no_port += o.nat_no_port;
        self.nat_no_neigh += o.nat_no_neigh;
        self.nat_no_route += o.nat_no_route;
        self.nat_untranslated += o.nat_untranslated;
    }
}
