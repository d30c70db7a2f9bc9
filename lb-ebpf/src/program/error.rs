//! Every way a packet leaves the program other than being forwarded, and the
//! verdict each one means. The one place that decides PASS against DROP.

use aya_ebpf::bindings::xdp_action;

/// Why a packet was dropped; each reason has its own counter.
#[derive(Clone, Copy)]
pub enum DropReason {
    /// Truncated or malformed headers.
    Malformed,
    /// A non-first IP fragment (no ports to find a flow by).
    Fragment,
    /// The VIP's table holds no ACTIVE backend.
    NoBackend,
}

/// The verdict of a packet that is not forwarded.
pub enum Error {
    /// Not addressed to a VIP: leave it to the kernel, untouched.
    Pass,
    /// Not a VIP packet and malformed: passed untouched, counted globally.
    PassMalformed,
    /// A VIP packet that cannot be forwarded: dropped and counted on the VIP.
    Drop { vip_id: u32, reason: DropReason },
}

impl Error {
    #[inline(always)]
    pub fn action(&self) -> u32 {
        match self {
            Error::Pass | Error::PassMalformed => xdp_action::XDP_PASS,
            Error::Drop { .. } => xdp_action::XDP_DROP,
        }
    }
}
