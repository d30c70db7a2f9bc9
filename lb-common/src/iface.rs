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
        let Self {
            mac,
            set,
            _pad: pad,
        } = *self;
        Self::not_for_us_word(
            u64::from_le_bytes([mac[0], mac[1], mac[2], mac[3], mac[4], mac[5], set, pad]),
            u64::from_le_bytes([dst[0], dst[1], dst[2], dst[3], dst[4], dst[5], 0, 0]),
        )
    }

    /// [`Self::not_for_us`] on words: `own` is the whole value read as one
    /// little-endian u64 (the MAC in its low six bytes, `set` in the
    /// seventh), `dst` the frame's destination MAC in the low six bytes of
    /// another. The program reads both with three loads (a u64, a u32 and a
    /// u16) instead of comparing twelve bytes one by one.
    #[inline(always)]
    pub const fn not_for_us_word(own: u64, dst: u64) -> bool {
        const MAC_BITS: u64 = 0xffff_ffff_ffff;
        let set = (own >> 48) & 0xff != 0;
        let multicast = dst & 1 != 0;
        set && !multicast && own & MAC_BITS != dst & MAC_BITS
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_is_ours_when_unset_multicast_or_to_our_mac() {
        let own = OwnMac::new([0x02, 0, 0, 0, 0, 0x02]);
        assert!(!own.not_for_us(&[0x02, 0, 0, 0, 0, 0x02]));
        assert!(own.not_for_us(&[0x02, 0, 0, 0, 0, 0x03]));
        assert!(own.not_for_us(&[0x12, 0, 0, 0, 0, 0x02]));
        assert!(!own.not_for_us(&[0xff; 6]));
        assert!(!own.not_for_us(&[0x01, 0, 0x5e, 0, 0, 1]));
        assert!(!OwnMac::default().not_for_us(&[0x02, 0, 0, 0, 0, 0x03]));
    }
}
