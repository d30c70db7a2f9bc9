//! Names of the program, its maps and its load-time globals: the strings user
//! space looks them up by. The eBPF statics carry the same names.

/// The XDP program.
pub const PROGRAM: &str = "lb";

pub const VIPS: &str = "VIPS";
/// Array of 65536 `u32` indexed by destination port (host order): `VIP_PORT_*`
/// bits saying whether some VIP uses that port. Lets traffic to every other
/// port (SSH to the balancer itself, say) pass after one array read instead of
/// a hash lookup.
pub const VIP_PORTS: &str = "VIP_PORTS";
/// Array of `VIP_ADDR_SLOTS` `VipAddrSlot`s indexed by `vip_addr_slot(dst)`:
/// the VIP addresses, so that a packet to any other address passes after one
/// array read, whatever its port, before any hash lookup.
pub const VIP_ADDRS: &str = "VIP_ADDRS";
pub const BACKENDS: &str = "BACKENDS";
/// One `OwnMac`: the interface's MAC, the source of every forwarded frame;
/// unicast frames to another MAC pass untouched.
pub const OWN_MAC: &str = "OWN_MAC";
/// IPv6 flows (40-byte `FlowKey`).
pub const FLOWS: &str = "FLOWS";
/// IPv4 flows (16-byte `FlowKey4`). Each of the two has `max_flows` entries.
pub const FLOWS4: &str = "FLOWS4";
/// Array of `HANDSHAKE_SLOTS` `Handshake`s: the picks of SYNs waiting for
/// their first ACK (see lb_common::flow::Handshake).
pub const HANDSHAKES: &str = "HANDSHAKES";
/// Hash (not LRU) of the connections pinned to DRAINING backends: flow key to
/// backend id. Written by user space when a drain starts; the program's second
/// chance reads it when a packet's `FLOWS` entry was evicted, so an in-flight
/// connection of a draining backend survives a flow table that overflows,
/// while connections opened during the drain (never in it) keep their pick.
pub const DRAIN_FLOWS: &str = "DRAIN_FLOWS";
pub const MAGLEV: &str = "MAGLEV";
pub const MAGLEV_LIVE_HALF: &str = "MAGLEV_LIVE_HALF";
pub const VIP_STATS: &str = "VIP_STATS";
pub const BACKEND_STATS: &str = "BACKEND_STATS";
pub const GLOBAL_STATS: &str = "GLOBAL_STATS";
/// NAT: one `lb_common::nat::NatConfig`, written by user space.
pub const NAT_CONFIG: &str = "NAT_CONFIG";
/// NAT: LRU hash, client→VIP `FlowKey` (IPv4 as IPv4-mapped) to
/// `NatForward`. Written by the program only; `max_flows` entries.
pub const NAT_FWD: &str = "NAT_FWD";
/// NAT: LRU hash, `NatReplyKey` to `NatReply`. Written by the program only;
/// `max_flows` entries. Its entries are also the allocator's record of which
/// source ports are taken.
pub const NAT_REV: &str = "NAT_REV";

/// Version of the maps' layout: their set, names, types, and the layout of
/// every key and value they hold. Bump it with any such change. It is kept
/// with the pins, and a daemon whose version differs from the pinned one
/// refuses to adopt them (its program would read the old maps wrongly).
/// 2: IPv4 flows in FLOWS4 (16-byte key), HANDSHAKES, VIP_ADDRS, OWN_MAC, and
/// the per-VIP `confirmed`/`unrecorded` counters.
/// 3: NAT: `Backend` grows `forward` and `port_be` (32 bytes), `Counters`
/// the NAT counters (136 bytes), and the maps NAT_CONFIG, NAT_FWD, NAT_REV.
pub const MAPS_LAYOUT_VERSION: u32 = 3;

/// Every map, for pinning and adoption.
pub const ALL: [&str; 17] = [
    VIPS,
    VIP_PORTS,
    VIP_ADDRS,
    BACKENDS,
    OWN_MAC,
    FLOWS,
    FLOWS4,
    HANDSHAKES,
    DRAIN_FLOWS,
    MAGLEV,
    MAGLEV_LIVE_HALF,
    VIP_STATS,
    BACKEND_STATS,
    GLOBAL_STATS,
    NAT_CONFIG,
    NAT_FWD,
    NAT_REV,
];

/// Load-time global (`.rodata`): slots per Maglev half, `M`.
pub const GLOBAL_MAGLEV_SIZE: &str = "MAGLEV_SIZE";

/// Load-time global (`.rodata`): flow entries per CPU and second that packets
/// without a handshake (not a SYN's first ACK) may make; see
/// [`orphan_inserts_per_sec`].
pub const GLOBAL_ORPHAN_INSERTS_PER_SEC: &str = "ORPHAN_INSERTS_PER_SEC";

/// The budget for a flow table of `max_flows` entries: a flood of spoofed
/// ACKs (or of UDP datagrams) can renew at most 1/64 of the table per CPU and
/// second, so the least recently used 64 seconds' worth of flows are the most
/// it can evict per CPU; established flows, used more recently, stay.
pub const fn orphan_inserts_per_sec(max_flows: u32) -> u64 {
    let n = max_flows as u64 / 64;
    if n < 64 { 64 } else { n }
}

/// Compiled-in map sizes are placeholders: user space always sets the real size
/// at load time with `EbpfLoader::map_max_entries`. These are the defaults.
pub const DEFAULT_MAX_VIPS: u32 = 64;
pub const DEFAULT_MAX_BACKENDS: u32 = 1024;
pub const DEFAULT_MAX_FLOWS: u32 = 1 << 20;
pub const DEFAULT_MAX_DRAIN_FLOWS: u32 = 1 << 18;

/// `VIP_PORTS` bit: some TCP VIP listens on this port.
pub const VIP_PORT_TCP: u32 = 1;
/// `VIP_PORTS` bit: some UDP VIP listens on this port.
pub const VIP_PORT_UDP: u32 = 2;
/// `VIP_PORTS` bit: some backend of a TCP DNAT VIP listens on this port, so
/// a packet from this source port no VIP claims may be its reply (the
/// program then looks it up in `NAT_REV`).
pub const VIP_PORT_DNAT_TCP: u32 = 4;
/// `VIP_PORTS` bit: the same for UDP.
pub const VIP_PORT_DNAT_UDP: u32 = 8;
/// Entries of `VIP_PORTS`: one per port.
pub const VIP_PORTS_ENTRIES: u32 = 65536;
