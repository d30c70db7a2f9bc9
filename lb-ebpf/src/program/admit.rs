//! Which packets may create a flow entry: the flood defence.
//!
//! A flow table that any packet can add to is emptied by a flood of spoofed
//! packets several times its size, and every established flow it evicts is
//! re-picked on its next packet, which breaks the connection if the tables
//! changed meanwhile (a drain). So a packet without an entry takes one only
//! when it proves a connection, or within a budget:
//!
//! - a SYN takes no flow entry: its pick goes into `HANDSHAKES`, an array
//!   indexed by the flow hash (a write, no allocation), which a SYN flood
//!   overwrites without touching the flow tables;
//! - the handshake's first ACK (which a spoofed source never sends: it never
//!   sees the SYN-ACK) finds that pick and makes the flow entry, with the
//!   backend the SYN went to even if the tables flipped in between;
//! - any other packet without an entry, a handshake or a second chance (an
//!   evicted flow's, the first datagram of a UDP flow, a spoofed ACK) goes to
//!   the live pick and takes an entry only while this CPU's budget for the
//!   current second lasts (`ORPHAN_INSERTS_PER_SEC`, from the table's size);
//!   past it, it is forwarded without one and counted `unrecorded`. FIN and
//!   RST never take one: their connection is ending.

use aya_ebpf::{macros::map, maps::PerCpuArray};
use lb_common::flow::{FLOW_F_CLOSING, FlowInfo, Handshake, handshake_slot};

use crate::program::{
    flow_key::Key,
    maps::{BACKENDS, HANDSHAKES},
};

/// Entries made this second by packets without a handshake, on one CPU. The
/// program's own scratch space, never read by user space.
#[repr(C)]
pub struct Budget {
    second: u64,
    used: u64,
}

#[map]
static ORPHAN_BUDGET: PerCpuArray<Budget> = PerCpuArray::with_max_entries(1, 0);

/// Set by user space at load time (`.rodata`); see
/// `lb_common::maps::orphan_inserts_per_sec`.
#[unsafe(no_mangle)]
static ORPHAN_INSERTS_PER_SEC: u64 = 1024;

/// Keeps a SYN's pick for its first ACK.
#[inline(always)]
pub fn start_handshake(key: &Key, hash: u32, info: &FlowInfo) {
    if let Some(slot) = HANDSHAKES.get_ptr_mut(handshake_slot(hash)) {
        // SAFETY: a slot of an array map from a successful lookup. Two CPUs
        // writing one slot at once (two SYNs of one hash in the same instant)
        // can leave it mixed; the ACK then finds no match for its key and
        // takes the orphan path: the live pick, the SYN's too unless the
        // tables flipped in between.
        unsafe {
            *slot = Handshake {
                key: key.wide(),
                info: *info,
            }
        };
    }
}

/// The flow entry of the handshake this packet completes, if its SYN is
/// recorded and the backend it went to still keeps flows.
#[inline(always)]
pub fn handshake(key: &Key, hash: u32) -> Option<FlowInfo> {
    let slot = HANDSHAKES.get(handshake_slot(hash))?;
    if !same(&slot.key, key) {
        return None;
    }
    let info = slot.info;
    BACKENDS
        .get(info.backend_id)
        .is_some_and(lb_common::backend::Backend::keeps_flows)
        .then_some(info)
}

/// `recorded == key`, compared in 32-bit words.
#[inline(always)]
fn same(recorded: &lb_common::flow::FlowKey, key: &Key) -> bool {
    let wide = key.wide();
    // SAFETY: both are 40-byte `#[repr(C)]` plain data with 4-byte alignment.
    let (a, b) = unsafe {
        (
            &*(recorded as *const _ as *const [u32; 10]),
            &*(&wide as *const _ as *const [u32; 10]),
        )
    };
    let mut diff = 0;
    for i in 0..10 {
        diff |= a[i] ^ b[i];
    }
    diff == 0
}

/// Forgets the handshake of `key` once its flow entry is made: a later
/// connection on the same 5-tuple (which a SYN on the closing entry re-picks
/// in place, without a new slot) must never find the old SYN's pick.
#[inline(always)]
pub fn end_handshake(hash: u32) {
    if let Some(slot) = HANDSHAKES.get_ptr_mut(handshake_slot(hash)) {
        // SAFETY: a slot of an array map from a successful lookup. Protocol
        // 0 matches no packet (they are TCP or UDP); one store, where zeroing
        // the whole key costs a call to `memset`.
        unsafe { (*slot).key.proto = 0 };
    }
}

/// True when a packet without an entry, a handshake or a second chance may
/// make an entry now (and counts it against this CPU's budget).
#[inline(always)]
pub fn orphan_may_record(flags: u32, now_ns: u64) -> bool {
    if flags & FLOW_F_CLOSING != 0 {
        return false;
    }
    let Some(budget) = ORPHAN_BUDGET.get_ptr_mut(0) else {
        return false;
    };
    // SAFETY: this CPU's slot; XDP runs with preemption off, so nothing else
    // on this CPU writes it meanwhile.
    let budget = unsafe { &mut *budget };
    let second = now_ns / 1_000_000_000;
    if budget.second != second {
        budget.second = second;
        budget.used = 0;
    }
    // SAFETY: a plain read of a static; volatile keeps the load-time value.
    let limit = unsafe { core::ptr::read_volatile(&ORPHAN_INSERTS_PER_SEC) };
    if budget.used >= limit {
        return false;
    }
    budget.used += 1;
    true
}
