//! The time a flow's `created_ns` and `last_seen_ns` hold: CLOCK_MONOTONIC to
//! the tick, as `bpf_ktime_get_coarse_ns()` gives it, at the cost of a load.
//!
//! Every packet of a known flow needs the time, and a helper call is the
//! dearest thing on that path (about 17 ns here with the SRSO return-thunk
//! mitigation, against ~90 ns for the whole established path). The coarse
//! clock only moves once per tick, and `bpf_jiffies64()` is inlined by the
//! verifier as one load of the tick count: so each CPU keeps the coarse time
//! it read at its current tick and calls the helper again only when the tick
//! count has moved. The value is exactly what the helper would have returned
//! (both advance at the same tick), so user space compares it with
//! CLOCK_MONOTONIC_COARSE as before.

use aya_ebpf::{
    helpers::{bpf_jiffies64, bpf_ktime_get_coarse_ns},
    macros::map,
    maps::PerCpuArray,
};

/// What one CPU last read: the tick count and the coarse time at that tick.
/// The program's own scratch space, never read by user space (and not pinned:
/// the attached program keeps it alive).
#[repr(C)]
pub struct TickTime {
    jiffies: u64,
    coarse_ns: u64,
}

#[map]
static CLOCK: PerCpuArray<TickTime> = PerCpuArray::with_max_entries(1, 0);

/// The coarse monotonic time, in ns.
#[inline(always)]
pub fn coarse_now_ns() -> u64 {
    // SAFETY: a helper with no arguments, inlined as a load of jiffies_64.
    let jiffies = unsafe { bpf_jiffies64() };
    let Some(cached) = CLOCK.get_ptr_mut(0) else {
        // SAFETY: as above.
        return unsafe { bpf_ktime_get_coarse_ns() };
    };
    // SAFETY: the pointer is this CPU's slot, from a successful lookup; XDP
    // runs with preemption off, so nothing else on this CPU writes it meanwhile.
    let cached = unsafe { &mut *cached };
    if cached.jiffies != jiffies {
        cached.jiffies = jiffies;
        // SAFETY: as above.
        cached.coarse_ns = unsafe { bpf_ktime_get_coarse_ns() };
    }
    cached.coarse_ns
}
