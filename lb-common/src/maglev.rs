//! Layout of the `MAGLEV` and `MAGLEV_LIVE_HALF` maps.
//!
//! `MAGLEV` is one array of backend ids: for each VIP two halves of `M` slots.
//! The slot for VIP `v`, half `h`, index `i` is `v * 2M + h * M + i`. User space
//! writes the idle half and then flips `MAGLEV_LIVE_HALF[v]`, so a packet never
//! sees a half-written table. Both halves only ever hold ACTIVE backends.

/// Default table size per half: prime, so every backend's permutation visits
/// every slot.
pub const DEFAULT_MAGLEV_SIZE: u32 = 65537;

/// Slot value of a table with no backend.
pub const NO_BACKEND: u32 = u32::MAX;

/// Index into `MAGLEV` of `slot` in `half` of VIP `vip_id`'s table of size `m`.
#[inline(always)]
pub const fn slot_index(vip_id: u32, half: u32, m: u32, slot: u32) -> u32 {
    vip_id * 2 * m + half * m + slot
}
