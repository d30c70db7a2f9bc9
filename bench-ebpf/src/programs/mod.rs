//! The reference programs; compiled only for the BPF target.
//!
//! Each is the least a forwarder of its kind does, so that the benchmark can
//! hold every path of `lb` against the reference doing the same kind of work:
//!
//! - `floor`: parse Ethernet (one VLAN tag at most), IPv4 or IPv6, TCP or UDP
//!   with bounds checks, swap the MACs, `XDP_TX`: any L2 forwarder's minimum.
//! - `floor_flow`: the floor plus one lookup of the 5-tuple (as `lb`'s
//!   `FlowKey`) in an LRU hash map with one common LRU list (`FLOWS_COMMON`),
//!   whose value picks the destination MAC: any stateful forwarder's minimum.
//!   On a miss it inserts the flow, so the same program also gives the least a
//!   new flow costs (lookup miss plus insert, with eviction when full).
//! - `floor_flow4`: `floor_flow` for IPv4 under `lb`'s compact 16-byte key
//!   (`FLOWS_COMMON4`): the reference for `lb`'s IPv4 established path.
//! - `floor_flow_pcpu`: the same over per-CPU LRU lists
//!   (`BPF_F_NO_COMMON_LRU`, map `FLOWS_PCPU`), to weigh the flow table's design.
//! - `floor_flow_vip`: `floor_flow` after a lookup of the destination in a
//!   VIP hash (`VIPS_REF`, keyed like `lb`'s `VIPS`); `floor_flow_clk`:
//!   `floor_flow` that also writes the clock into the flow's `last_seen_ns`
//!   (`bpf_ktime_get_ns`, as `lb` does; `floor_flow_cclk`: the coarse clock;
//!   `floor_flow_jif`: jiffies).
//!   Each adds one piece of `lb`'s established path, to attribute its cost.
//! - `xdp_pass`: returns `XDP_PASS`. Attached to the peer of a veth, it lets
//!   native-mode `XDP_TX` frames arrive there (see docs/toolchain.md).
mod flow;
mod parse;

use aya_ebpf::{bindings::xdp_action, macros::xdp, programs::XdpContext};
use flow::{Clock, Extra, FLOWS_COMMON, FLOWS_COMMON4, FLOWS_PCPU};

#[xdp]
pub fn floor(ctx: XdpContext) -> u32 {
    try_floor(&ctx).unwrap_or(xdp_action::XDP_PASS)
}

#[xdp]
pub fn floor_flow(ctx: XdpContext) -> u32 {
    flow::try_forward(&ctx, &FLOWS_COMMON, Extra::NONE).unwrap_or(xdp_action::XDP_PASS)
}

#[xdp]
pub fn floor_flow4(ctx: XdpContext) -> u32 {
    flow::try_forward4(&ctx, &FLOWS_COMMON4).unwrap_or(xdp_action::XDP_PASS)
}

#[xdp]
pub fn floor_flow_pcpu(ctx: XdpContext) -> u32 {
    flow::try_forward(&ctx, &FLOWS_PCPU, Extra::NONE).unwrap_or(xdp_action::XDP_PASS)
}

#[xdp]
pub fn floor_flow_vip(ctx: XdpContext) -> u32 {
    let extra = Extra {
        vip: true,
        clock: Clock::None,
    };
    flow::try_forward(&ctx, &FLOWS_COMMON, extra).unwrap_or(xdp_action::XDP_PASS)
}

#[xdp]
pub fn floor_flow_clk(ctx: XdpContext) -> u32 {
    let extra = Extra {
        vip: false,
        clock: Clock::Ktime,
    };
    flow::try_forward(&ctx, &FLOWS_COMMON, extra).unwrap_or(xdp_action::XDP_PASS)
}

#[xdp]
pub fn floor_flow_cclk(ctx: XdpContext) -> u32 {
    let extra = Extra {
        vip: false,
        clock: Clock::Coarse,
    };
    flow::try_forward(&ctx, &FLOWS_COMMON, extra).unwrap_or(xdp_action::XDP_PASS)
}

#[xdp]
pub fn floor_flow_jif(ctx: XdpContext) -> u32 {
    let extra = Extra {
        vip: false,
        clock: Clock::Jiffies,
    };
    flow::try_forward(&ctx, &FLOWS_COMMON, extra).unwrap_or(xdp_action::XDP_PASS)
}

#[xdp]
pub fn xdp_pass(_ctx: XdpContext) -> u32 {
    xdp_action::XDP_PASS
}

#[inline(always)]
fn try_floor(ctx: &XdpContext) -> Option<u32> {
    parse::parse(ctx)?;
    parse::swap_macs(ctx)?;
    Some(xdp_action::XDP_TX)
}

#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    // The bpfel target aborts on panic and the verifier rejects anything that
    // could reach here; this only satisfies `no_std`.
    loop {}
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 13] = *b"Dual MIT/GPL\0";
