//! Reading a whole flow table in batches, which is what makes a pass over a
//! table of a million flows affordable (see `batch`).

use std::{
    io,
    os::fd::{AsFd as _, AsRawFd as _},
};

use aya::{
    Pod,
    maps::{HashMap, IterableMap as _, MapData},
};
use lb_common::flow::FlowInfo;

use super::batch;

/// Entries fetched per call. A hash bucket holding more entries than this
/// makes the kernel answer ENOSPC with nothing copied; the buffer then grows.
const BATCH: usize = 4096;

/// Calls `f` for every entry of one hash map of flows, in batches (`blank`:
/// any key, to size the buffer).
pub fn for_each_entry<K: Pod>(
    map: &HashMap<MapData, K, FlowInfo>,
    blank: K,
    mut f: impl FnMut(&K, &FlowInfo),
) -> io::Result<u64> {
    let fd = map.map().fd().as_fd().as_raw_fd();
    let mut keys = vec![blank; BATCH];
    let mut values = vec![FlowInfo::default(); BATCH];
    let mut cursor = None;
    let mut total = 0u64;
    loop {
        let at = cursor;
        // SAFETY: `fd` is a hash map keyed by `K` with FlowInfo values.
        let step = unsafe { batch::lookup_step(fd, &mut cursor, &mut keys, &mut values) };
        let (n, done) = match step {
            Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => {
                let grown = keys.len() * 2;
                keys.resize(grown, keys[0]);
                values.resize(grown, FlowInfo::default());
                cursor = at;
                continue;
            }
            other => other?,
        };
        for (k, v) in keys[..n].iter().zip(&values[..n]) {
            f(k, v);
        }
        total += n as u64;
        if done {
            return Ok(total);
        }
    }
}
