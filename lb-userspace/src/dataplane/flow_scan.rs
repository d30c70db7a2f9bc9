//! Reading the whole flow table in batches (`BPF_MAP_LOOKUP_BATCH`): thousands
//! of entries per system call instead of two calls per entry, which is what
//! makes a pass over a table of a million flows affordable. aya 0.14 has no
//! wrapper for batch operations, so this issues the `bpf(2)` command itself.

use std::{
    io,
    os::fd::{AsFd as _, AsRawFd as _},
};

use aya::maps::{HashMap, IterableMap as _, MapData};
use lb_common::flow::{FlowInfo, FlowKey};

/// `BPF_MAP_LOOKUP_BATCH` from `enum bpf_cmd`.
const BPF_MAP_LOOKUP_BATCH: libc::c_long = 24;

/// Entries fetched per call. A hash bucket holding more entries than this
/// makes the kernel answer ENOSPC; the loop then retries with a larger buffer.
const BATCH: usize = 4096;

/// The `batch` member of `union bpf_attr`.
#[repr(C)]
#[derive(Default)]
struct BatchAttr {
    in_batch: u64,
    out_batch: u64,
    keys: u64,
    values: u64,
    count: u32,
    map_fd: u32,
    elem_flags: u64,
    flags: u64,
}

/// Calls `f` for every entry of the flow table; returns how many there were.
/// Entries added or removed during the pass may or may not be seen, as with
/// any iteration of a live map.
pub fn for_each_flow(
    flows: &HashMap<MapData, FlowKey, FlowInfo>,
    mut f: impl FnMut(&FlowKey, &FlowInfo),
) -> io::Result<u64> {
    let fd = flows.map().fd().as_fd().as_raw_fd();
    let mut capacity = BATCH;
    let mut keys = vec![FlowKey::new([0; 16], [0; 16], 0, 0, 0); capacity];
    let mut values = vec![FlowInfo::default(); capacity];
    // The kernel's cursor for hash maps is a bucket index (u32).
    let (mut cursor_in, mut cursor_out) = (0u32, 0u32);
    let mut first = true;
    let mut total = 0u64;
    loop {
        let mut attr = BatchAttr {
            in_batch: if first { 0 } else { &cursor_in as *const u32 as u64 },
            out_batch: &mut cursor_out as *mut u32 as u64,
            keys: keys.as_mut_ptr() as u64,
            values: values.as_mut_ptr() as u64,
            count: capacity as u32,
            map_fd: fd as u32,
            ..Default::default()
        };
        // SAFETY: `attr` points at buffers of `capacity` keys and values of the
        // map's key and value types, and at two u32 cursors, all alive for the call.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_bpf,
                BPF_MAP_LOOKUP_BATCH,
                &mut attr as *mut BatchAttr,
                std::mem::size_of::<BatchAttr>(),
            )
        };
        let err = (rc < 0).then(io::Error::last_os_error);
        if let Some(e) = &err
            && e.raw_os_error() == Some(libc::ENOSPC)
            && attr.count == 0
        {
            capacity *= 2;
            keys.resize(capacity, keys[0]);
            values.resize(capacity, FlowInfo::default());
            continue;
        }
        let n = attr.count as usize;
        for (k, v) in keys[..n].iter().zip(&values[..n]) {
            f(k, v);
        }
        total += n as u64;
        match err {
            None => {}
            Some(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(total),
            Some(e) => return Err(e),
        }
        cursor_in = cursor_out;
        first = false;
    }
}
