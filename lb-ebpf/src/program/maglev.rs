//! Maglev lookup: the VIP's table maps a flow hash to a backend id.

use lb_common::maglev::{NO_BACKEND, slot_index};

use crate::program::maps::{MAGLEV, MAGLEV_LIVE_HALF};

/// Slots per Maglev half, `M`; set by user space at load time (`.rodata`).
#[unsafe(no_mangle)]
static MAGLEV_SIZE: u32 = lb_common::maglev::DEFAULT_MAGLEV_SIZE;

/// `M`, read so that the compiler cannot fold the placeholder in.
#[inline(always)]
fn maglev_size() -> u32 {
    // SAFETY: a plain read of a static; volatile keeps the load-time value.
    unsafe { core::ptr::read_volatile(&MAGLEV_SIZE) }
}

/// The backend id owning `hash`'s slot in the live half of VIP `vip_id`'s table.
#[inline(always)]
pub fn pick(vip_id: u32, hash: u32) -> Option<u32> {
    let m = maglev_size();
    if m == 0 {
        return None;
    }
    let live = *MAGLEV_LIVE_HALF.get(vip_id)? & 1;
    let id = *MAGLEV.get(slot_index(vip_id, live, m, hash % m))?;
    (id != NO_BACKEND).then_some(id)
}
