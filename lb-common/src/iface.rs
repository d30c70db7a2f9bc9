//! The `OWN_MAC` map: the MAC address of the interface the program is
//! attached to, written by user space when it attaches or adopts.

/// Value of `OWN_MAC` (one slot).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct OwnMac {
    pub mac: [u8; 6],
    /// 1 once user space wrote `mac`. While 0 the program takes every frame
    /// as addressed to it and forwards from the MAC it was addressed to.
    pub set: u8,
    pub _pad: u8,
}
const _: () = assert!(core::mem::size_of::<OwnMac>() == 8);

impl OwnMac {
    pub const fn new(mac: [u8; 6]) -> Self {
        Self {
            mac,
            set: 1,
            _pad: 0,
        }
    }

    /// True when a frame to `dst` is not for this interface: another unicast
    /// MAC (broadcast and multicast frames are everyone's).
    #[inline(always)]
    pub fn not_for_us(&self, dst: &[u8; 6]) -> bool {
        self.set != 0 && dst[0] & 1 == 0 && *dst != self.mac
    }
}
