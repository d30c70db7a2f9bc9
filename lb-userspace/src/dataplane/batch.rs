//! The kernel's batch map commands (`BPF_MAP_LOOKUP_BATCH`,
//! `BPF_MAP_UPDATE_BATCH`): thousands of entries per system call instead of
//! one or two calls per entry. aya 0.14 has no wrapper for them, so this issues
//! the `bpf(2)` commands itself.

use std::{io, os::fd::RawFd};

/// `enum bpf_cmd` values.
const BPF_MAP_LOOKUP_BATCH: libc::c_long = 24;
const BPF_MAP_UPDATE_BATCH: libc::c_long = 26;

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

/// Runs one batch command; returns the element count the kernel reports with
/// the error, if any (a lookup batch fills some entries and then says ENOENT).
fn call(cmd: libc::c_long, attr: &mut BatchAttr) -> (u32, Option<io::Error>) {
    // SAFETY: `attr` is a valid `bpf_attr` prefix whose pointers the callers
    // make point at live buffers of `count` keys and values of the map's types.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            std::ptr::from_mut::<BatchAttr>(attr),
            std::mem::size_of::<BatchAttr>(),
        )
    };
    (attr.count, (rc < 0).then(io::Error::last_os_error))
}

/// Writes `keys[i] -> values[i]` for every i in one call.
///
/// # Safety
/// `fd` must be a map whose key type is `K` and whose value type is `V`.
pub unsafe fn update<K, V>(fd: RawFd, keys: &[K], values: &[V]) -> io::Result<()> {
    assert_eq!(keys.len(), values.len());
    let mut attr = BatchAttr {
        keys: keys.as_ptr() as u64,
        values: values.as_ptr() as u64,
        count: keys.len() as u32,
        map_fd: fd.cast_unsigned(),
        ..Default::default()
    };
    match call(BPF_MAP_UPDATE_BATCH, &mut attr) {
        (_, None) => Ok(()),
        (done, Some(e)) => Err(io::Error::new(
            e.kind(),
            format!("batch update stopped after {done} of {}: {e}", keys.len()),
        )),
    }
}

/// One step of a batch lookup over a hash map: fills `keys`/`values` from the
/// kernel's cursor and returns how many, and whether the map is exhausted.
///
/// # Safety
/// `fd` must be a hash map whose key type is `K` and whose value type is `V`.
pub unsafe fn lookup_step<K, V>(
    fd: RawFd,
    cursor: &mut Option<u32>,
    keys: &mut [K],
    values: &mut [V],
) -> io::Result<(usize, bool)> {
    // The kernel's cursor for hash maps is a bucket index (u32).
    let cursor_in = cursor.unwrap_or(0);
    let mut cursor_out = 0u32;
    let mut attr = BatchAttr {
        in_batch: match cursor {
            Some(_) => &raw const cursor_in as u64,
            None => 0,
        },
        out_batch: &raw mut cursor_out as u64,
        keys: keys.as_mut_ptr() as u64,
        values: values.as_mut_ptr() as u64,
        count: keys.len().min(values.len()) as u32,
        map_fd: fd.cast_unsigned(),
        ..Default::default()
    };
    let (n, err) = call(BPF_MAP_LOOKUP_BATCH, &mut attr);
    *cursor = Some(cursor_out);
    match err {
        None => Ok((n as usize, false)),
        Some(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok((n as usize, true)),
        Some(e) => Err(e),
    }
}
