//! The stateful references: one flow-table lookup whose value picks the
//! destination MAC, as `lb`'s established path does.

use aya_ebpf::{
    bindings::{BPF_F_NO_COMMON_LRU, xdp_action},
    helpers::{bpf_jiffies64, bpf_ktime_get_coarse_ns, bpf_ktime_get_ns},
    macros::map,
    maps::{HashMap, LruHashMap},
    programs::XdpContext,
};
use lb_common::{
    flow::{FlowInfo, FlowKey, FlowKey4},
    vip::{VipInfo, VipKey},
};
use network_types::eth::EthHdr;

use crate::programs::parse::{self, Tuple, ptr_at};

/// One LRU list shared by all CPUs, like `lb`'s `FLOWS`. Sized at load time.
#[map]
pub static FLOWS_COMMON: LruHashMap<FlowKey, FlowInfo> = LruHashMap::with_max_entries(1024, 0);

/// `FLOWS_COMMON` under `lb`'s compact IPv4 key (16 bytes), for `floor_flow4`.
#[map]
pub static FLOWS_COMMON4: LruHashMap<FlowKey4, FlowInfo> = LruHashMap::with_max_entries(1024, 0);

/// One LRU list (and one share of the entries) per CPU. Sized at load time.
#[map]
pub static FLOWS_PCPU: LruHashMap<FlowKey, FlowInfo> =
    LruHashMap::with_max_entries(1024, BPF_F_NO_COMMON_LRU);

/// VIPs as `lb`'s `VIPS` keys them, for `floor_flow_vip`. Filled by the benchmark.
#[map]
pub static VIPS_REF: HashMap<VipKey, VipInfo> = HashMap::with_max_entries(128, 0);

/// Which clock a hit writes into the flow's `last_seen_ns`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Clock {
    None,
    /// `bpf_ktime_get_ns()`, as `lb` reads it.
    Ktime,
    /// `bpf_ktime_get_coarse_ns()`: the tick's time, no clock-source read.
    Coarse,
    /// `bpf_jiffies64()`, which the verifier inlines as one load.
    Jiffies,
}

/// What a stateful forwarder does besides the flow lookup.
#[derive(Clone, Copy)]
pub struct Extra {
    /// Look the destination up in `VIPS_REF` first; a miss passes the packet.
    pub vip: bool,
    pub clock: Clock,
}

impl Extra {
    pub const NONE: Self = Self {
        vip: false,
        clock: Clock::None,
    };
}

/// `backend_id` a miss inserts.
const MISS_ID: u32 = u32::MAX;

/// The destination MAC for a flow's `backend_id`: `02:00` then the id's four
/// bytes, big-endian. The benchmark checks every output frame against it; a
/// miss gives the MAC of [`MISS_ID`], `02:00:ff:ff:ff:ff`.
#[inline(always)]
fn mac_of(backend_id: u32) -> [u8; 6] {
    let b = backend_id.to_be_bytes();
    [0x02, 0, b[0], b[1], b[2], b[3]]
}

/// Parses, looks the 5-tuple up in `flows` (inserting it on a miss) and sends
/// the frame to the flow's MAC, from the MAC it was addressed to.
#[inline(always)]
// By reference on purpose: passing the 40-byte key by value makes the
// compiler build a second copy on the stack, ~40 instructions per program.
#[allow(clippy::needless_borrows_for_generic_args)]
pub fn try_forward(
    ctx: &XdpContext,
    flows: &LruHashMap<FlowKey, FlowInfo>,
    extra: Extra,
) -> Option<u32> {
    try_forward_by(
        ctx,
        flows,
        |t| Some(FlowKey::new(t.src, t.dst, t.sport_be, t.dport_be, t.proto)),
        extra,
    )
}

/// [`try_forward`] for IPv4 frames under the compact key; anything else passes.
#[inline(always)]
#[allow(clippy::needless_borrows_for_generic_args)]
pub fn try_forward4(ctx: &XdpContext, flows: &LruHashMap<FlowKey4, FlowInfo>) -> Option<u32> {
    let v4 = |a: &[u8; 16]| [a[12], a[13], a[14], a[15]];
    let key = |t: &Tuple| {
        t.v4.then(|| FlowKey4::new(v4(&t.src), v4(&t.dst), t.sport_be, t.dport_be, t.proto))
    };
    try_forward_by(ctx, flows, key, Extra::NONE)
}

#[inline(always)]
#[allow(clippy::needless_borrows_for_generic_args)]
fn try_forward_by<K>(
    ctx: &XdpContext,
    flows: &LruHashMap<K, FlowInfo>,
    key_of: impl Fn(&Tuple) -> Option<K>,
    extra: Extra,
) -> Option<u32> {
    let t = parse::parse(ctx)?;
    if extra.vip {
        let vip = VipKey {
            addr: t.dst,
            port_be: t.dport_be,
            proto: t.proto,
            _pad: 0,
        };
        VIPS_REF.get_ptr(&vip)?;
    }
    let key = key_of(&t)?;
    let mac = if let Some(info) = flows.get_ptr_mut(&key) {
        // SAFETY: the pointer comes from a successful lookup; plain reads
        // and one plain write of this flow's entry.
        unsafe {
            match extra.clock {
                Clock::None => {}
                Clock::Ktime => (*info).last_seen_ns = bpf_ktime_get_ns(),
                Clock::Coarse => (*info).last_seen_ns = bpf_ktime_get_coarse_ns(),
                Clock::Jiffies => (*info).last_seen_ns = bpf_jiffies64(),
            }
            mac_of((*info).backend_id)
        }
    } else {
        let info = FlowInfo {
            backend_id: MISS_ID,
            ..FlowInfo::default()
        };
        // A failed insert changes nothing for this packet.
        let _ = flows.insert(&key, &info, 0);
        mac_of(MISS_ID)
    };
    let eth: *mut EthHdr = ptr_at(ctx, 0)?;
    // SAFETY: `ptr_at` checked the bounds.
    unsafe {
        (*eth).src_addr = (*eth).dst_addr;
        (*eth).dst_addr = mac;
    }
    Some(xdp_action::XDP_TX)
}
