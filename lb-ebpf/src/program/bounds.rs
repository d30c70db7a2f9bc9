//! The one bounds-checked accessor of packet data, and word-wise reads and
//! writes of 16-byte addresses.
//!
//! Header fields and addresses are byte arrays (alignment 1), which LLVM's
//! BPF backend reads one byte at a time and shifts together; the bytes then
//! fill the program's few registers and spill to the stack. Read and written
//! as words, an address is four loads or stores.

use core::mem::size_of;

use aya_ebpf::programs::XdpContext;
use lb_common::{
    addr::Addr16,
    flow::{FlowKey, FlowKey4},
};

/// A pointer to a `T` at `offset` bytes into the packet, if it fits.
#[inline(always)]
pub fn ptr_at<T>(ctx: &XdpContext, offset: usize) -> Option<*mut T> {
    let start = ctx.data();
    let end = ctx.data_end();
    if start + offset + size_of::<T>() > end {
        return None;
    }
    // SAFETY: the whole `T` lies inside [data, data_end), checked just above; the
    // verifier checks the same thing again before it lets the program load.
    Some((start + offset) as *mut T)
}

/// The header field at `field`, read whole: one load per 2-, 4- or 16-byte
/// field instead of one per byte. A frame starts at least 2-aligned, and the
/// verifier lets a program load packet data unaligned where the CPU does
/// (x86, arm64).
///
/// # Safety
/// `field` points into the packet, inside bounds already checked.
#[inline(always)]
pub unsafe fn load<T: Copy, const N: usize>(field: &[u8; N]) -> T {
    const { assert!(size_of::<T>() == N) };
    // SAFETY: the caller's bounds; `T` is plain data of the field's size.
    unsafe { (field as *const [u8; N]).cast::<T>().read() }
}

/// `::ffff:a.b.c.d` as words: how the maps hold the IPv4 address whose
/// network-order word is `v4`.
#[inline(always)]
pub const fn v4_mapped_words(v4: u32) -> [u32; 4] {
    [0, 0, u32::from_ne_bytes([0, 0, 0xff, 0xff]), v4]
}

/// The words of the address at `addr`, a field at a 4-aligned offset of a
/// 4-aligned struct ([`FlowKey`], `VipKey`, map values).
///
/// # Safety
/// `addr` is 4-aligned.
#[inline(always)]
pub unsafe fn words_at(addr: &Addr16) -> [u32; 4] {
    // SAFETY: the caller's alignment; four u32 are the same 16 bytes.
    unsafe { (addr as *const Addr16).cast::<[u32; 4]>().read() }
}

/// Writes `words` into the address at `addr` (see [`words_at`]).
///
/// # Safety
/// `addr` is 4-aligned.
#[inline(always)]
pub unsafe fn set_words(addr: &mut Addr16, words: [u32; 4]) {
    // SAFETY: as for `words_at`.
    unsafe { (addr as *mut Addr16).cast::<[u32; 4]>().write(words) }
}

/// The client's (source) address of `key`, as words.
#[inline(always)]
pub fn src_words(key: &FlowKey) -> [u32; 4] {
    // SAFETY: `FlowKey` is 4-aligned and `src` sits at offset 0.
    unsafe { words_at(&key.src) }
}

/// The VIP's (destination) address of `key`, as words.
#[inline(always)]
pub fn dst_words(key: &FlowKey) -> [u32; 4] {
    // SAFETY: `FlowKey` is 4-aligned and `dst` sits at offset 16.
    unsafe { words_at(&key.dst) }
}

/// The ports word of a flow key: `sport_be` then `dport_be` in memory
/// (the program is little-endian only: bpfel).
#[inline(always)]
pub const fn ports_word(sport_be: u16, dport_be: u16) -> u32 {
    sport_be as u32 | (dport_be as u32) << 16
}

/// A [`FlowKey`] from its addresses as words and wire-order ports, written
/// as ten words. Built field by field, the three padding bytes cost a call
/// to `memset` (LLVM's BPF backend does not inline a 3-byte one).
#[inline(always)]
pub fn flow_key(src: [u32; 4], dst: [u32; 4], sport_be: u16, dport_be: u16, proto: u8) -> FlowKey {
    let [s0, s1, s2, s3] = src;
    let [d0, d1, d2, d3] = dst;
    let words = [
        s0,
        s1,
        s2,
        s3,
        d0,
        d1,
        d2,
        d3,
        ports_word(sport_be, dport_be),
        u32::from(proto),
    ];
    // SAFETY: `FlowKey` is 40 bytes of plain data, 4-aligned, any bits
    // valid: src, dst, the ports, then the protocol and three zero bytes.
    unsafe { core::mem::transmute::<[u32; 10], FlowKey>(words) }
}

/// A [`FlowKey4`] from the IPv4 addresses' network-order words (see [`flow_key`]).
#[inline(always)]
pub fn flow_key4(src: u32, dst: u32, sport_be: u16, dport_be: u16, proto: u8) -> FlowKey4 {
    let words = [src, dst, ports_word(sport_be, dport_be), u32::from(proto)];
    // SAFETY: `FlowKey4` is 16 bytes of plain data, 4-aligned, any bits valid.
    unsafe { core::mem::transmute::<[u32; 4], FlowKey4>(words) }
}

/// The same 5-tuple as a [`FlowKey`], addresses IPv4-mapped (as
/// `FlowKey4::widen`, in words).
#[inline(always)]
pub fn widen4(key: &FlowKey4) -> FlowKey {
    // SAFETY: as in `flow_key4`, the other way.
    let [src, dst, ports, proto] = unsafe { core::mem::transmute::<FlowKey4, [u32; 4]>(*key) };
    let [m0, m1, m2, _] = v4_mapped_words(0);
    let words = [m0, m1, m2, src, m0, m1, m2, dst, ports, proto];
    // SAFETY: as in `flow_key`.
    unsafe { core::mem::transmute::<[u32; 10], FlowKey>(words) }
}
