//! Incremental Internet checksum updates (RFC 1624, eqn. 3:
//! `HC' = ~(~HC + ~m + m')`) for rewritten addresses and ports.
//!
//! The ones' complement sum does not depend on byte order as long as every
//! 16-bit word is read and written the same way, so words are taken as they
//! lie in memory (native loads of network-order bytes) and never swapped.

/// The change a rewrite makes to a checksum: the sum of `~old + new` over
/// every 16-bit word replaced.
#[derive(Clone, Copy)]
pub struct CsumDelta(u64);

impl CsumDelta {
    #[inline(always)]
    pub const fn new() -> Self {
        Self(0)
    }

    /// One 16-bit word `old` replaced by `new`.
    #[inline(always)]
    pub fn word(&mut self, old: u16, new: u16) {
        self.0 += u64::from(!old) + u64::from(new);
    }

    /// A 32-bit field (two words) replaced.
    #[inline(always)]
    pub fn dword(&mut self, old: u32, new: u32) {
        self.word(old as u16, new as u16);
        self.word((old >> 16) as u16, (new >> 16) as u16);
    }

    /// `csum` (as stored) updated by this delta.
    #[inline(always)]
    pub fn apply(self, csum: u16) -> u16 {
        !fold(u64::from(!csum) + self.0)
    }
}

/// The 64-bit sum folded to 16 bits with end-around carries.
#[inline(always)]
fn fold(mut sum: u64) -> u16 {
    sum = (sum & 0xffff_ffff) + (sum >> 32);
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    sum as u16
}
