//! Counters: per-CPU, so the program only ever adds to its own CPU's copy and
//! user space sums them.

use aya_ebpf::{maps::PerCpuArray, programs::XdpContext};
use lb_common::stats::Counters;

use crate::program::{
    error::{DropReason, Error},
    maps::{BACKEND_STATS, GLOBAL_STATS, VIP_STATS},
};

#[inline(always)]
fn add(map: &PerCpuArray<Counters>, index: u32, f: impl FnOnce(&mut Counters)) {
    if let Some(counters) = map.get_ptr_mut(index) {
        // SAFETY: a per-CPU slot; XDP runs with migration disabled, so nothing else
        // touches this CPU's copy while we add to it.
        f(unsafe { &mut *counters });
    }
}

#[inline(always)]
pub fn forwarded(vip_id: u32, backend_id: u32, bytes: u32) {
    let count = |c: &mut Counters| {
        c.packets += 1;
        c.bytes += u64::from(bytes);
    };
    add(&VIP_STATS, vip_id, count);
    add(&BACKEND_STATS, backend_id, count);
}

#[inline(always)]
pub fn flow_opened(vip_id: u32, backend_id: u32, already_closing: bool) {
    let count = |c: &mut Counters| {
        c.new_flows += 1;
        if already_closing {
            c.closed_flows += 1;
        }
    };
    add(&VIP_STATS, vip_id, count);
    add(&BACKEND_STATS, backend_id, count);
}

#[inline(always)]
pub fn flow_closed(vip_id: u32, backend_id: u32) {
    let count = |c: &mut Counters| c.closed_flows += 1;
    add(&VIP_STATS, vip_id, count);
    add(&BACKEND_STATS, backend_id, count);
}

#[inline(always)]
pub fn second_chance(vip_id: u32, backend_id: u32) {
    let count = |c: &mut Counters| c.second_chance += 1;
    add(&VIP_STATS, vip_id, count);
    add(&BACKEND_STATS, backend_id, count);
}

#[inline(always)]
pub fn confirmed(vip_id: u32) {
    add(&VIP_STATS, vip_id, |c| c.confirmed += 1);
}

#[inline(always)]
pub fn unrecorded(vip_id: u32) {
    add(&VIP_STATS, vip_id, |c| c.unrecorded += 1);
}

#[inline(always)]
pub fn repicked(vip_id: u32) {
    add(&VIP_STATS, vip_id, |c| c.repicked += 1);
}

/// Counts a packet that was not forwarded, where its verdict says.
#[inline(always)]
pub fn count_error(ctx: &XdpContext, error: &Error) {
    let bytes = (ctx.data_end() - ctx.data()) as u64;
    match error {
        Error::Pass => add(&GLOBAL_STATS, 0, |c| {
            c.packets += 1;
            c.bytes += bytes;
        }),
        Error::PassMalformed => add(&GLOBAL_STATS, 0, |c| {
            c.packets += 1;
            c.bytes += bytes;
            c.drop_malformed += 1;
        }),
        Error::Drop { vip_id, reason } => {
            // Three additions rather than a match on the reason: LLVM turns such
            // a match into `&drop_malformed + reason * 8`, an address the
            // verifier cannot bound.
            let (malformed, fragment, no_backend) = match reason {
                DropReason::Malformed => (1, 0, 0),
                DropReason::Fragment => (0, 1, 0),
                DropReason::NoBackend => (0, 0, 1),
            };
            add(&VIP_STATS, *vip_id, |c| {
                c.drop_malformed += malformed;
                c.drop_fragment += fragment;
                c.drop_no_backend += no_backend;
            });
        }
    }
}

/// NAT: a backend's reply translated and forwarded.
#[inline(always)]
pub fn reply_forwarded(vip_id: u32, backend_id: u32, bytes: u32) {
    let count = |c: &mut Counters| {
        c.reply_packets += 1;
        c.reply_bytes += u64::from(bytes);
    };
    add(&VIP_STATS, vip_id, count);
    add(&BACKEND_STATS, backend_id, count);
}

/// NAT: a new flow found no free source port.
#[inline(always)]
pub fn nat_no_port(vip_id: u32) {
    add(&VIP_STATS, vip_id, |c| c.nat_no_port += 1);
}

/// NAT: a translated packet passed to the kernel (no neighbour entry yet).
#[inline(always)]
pub fn nat_no_neigh(vip_id: u32) {
    add(&VIP_STATS, vip_id, |c| c.nat_no_neigh += 1);
}

/// NAT: a translated packet dropped, no route.
#[inline(always)]
pub fn nat_no_route(vip_id: u32) {
    add(&VIP_STATS, vip_id, |c| c.nat_no_route += 1);
}

/// NAT: a packet to a NAT source's port range with no translation (it is
/// passed, and counted as passed too).
#[inline(always)]
pub fn nat_untranslated() {
    add(&GLOBAL_STATS, 0, |c| c.nat_untranslated += 1);
}
