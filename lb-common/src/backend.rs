//! The `BACKENDS` map: one slot per backend id.

use crate::addr::Addr16;

/// Slot not in use.
pub const STATE_EMPTY: u8 = 0;
/// Takes new flows and keeps its existing ones.
pub const STATE_ACTIVE: u8 = 1;
/// No new flows; existing flows stay pinned to it until they end.
pub const STATE_DRAINING: u8 = 2;
/// Drain finished: no new flows; flow entries that remain still forward to it
/// (the last ACKs of closing connections).
pub const STATE_DRAINED: u8 = 3;
/// Admin DOWN (`lb disable`, or a backend gone from the config): no new
/// flows, and existing flows are re-picked on their next packet. An
/// operator's decision; a health check never writes it.
pub const STATE_DOWN: u8 = 4;
/// Failing its health checks: no new flows, existing flows KEPT. A backend
/// that stalls for a few seconds (GC pause, CPU starvation, a slow health
/// endpoint) finishes what it has; one that died resets its own connections.
pub const STATE_UNHEALTHY: u8 = 5;

/// Human name of a `STATE_*` value.
pub const fn state_name(state: u8) -> &'static str {
    match state {
        STATE_ACTIVE => "active",
        STATE_DRAINING => "draining",
        STATE_DRAINED => "drained",
        STATE_DOWN => "down",
        STATE_UNHEALTHY => "unhealthy",
        _ => "empty",
    }
}

/// Value of `BACKENDS` (an array indexed by backend id).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backend {
    pub addr: Addr16,
    /// DSR only: destination MAC written into forwarded frames (L2 direct
    /// server return). NAT frames take the MAC the kernel's FIB gives.
    pub mac: [u8; 6],
    /// One of `STATE_*`.
    pub state: u8,
    /// How this backend's VIP forwards: `lb_common::nat::FORWARD_DSR` or
    /// `FORWARD_NAT` or `FORWARD_DNAT` (the program reads it with the backend, so choosing the
    /// forward path costs no extra lookup).
    pub forward: u8,
    /// Maglev weight; the table is built in user space, the program does not read it.
    pub weight: u32,
    /// NAT and DNAT only: the backend's port (config `port`, default the VIP's),
    /// network byte order. 0 for DSR.
    pub port_be: u16,
    pub _pad: [u8; 2],
}
const _: () = assert!(core::mem::size_of::<Backend>() == 32);
// The program reads `mac` as a u32 and a u16 (lb-ebpf `flow.rs`, `Target::of`).
const _: () = assert!(core::mem::offset_of!(Backend, mac) == 16);

impl Backend {
    /// An unused slot.
    pub const EMPTY: Self = Self {
        addr: [0; 16],
        mac: [0; 6],
        state: STATE_EMPTY,
        forward: crate::nat::FORWARD_DSR,
        weight: 0,
        port_be: 0,
        _pad: [0; 2],
    };

    /// True when this backend's VIP forwards by NAT or DNAT: both take the
    /// translating path (lb-ebpf nat.rs), which tells them apart.
    #[inline(always)]
    pub const fn is_nat(&self) -> bool {
        self.forward != crate::nat::FORWARD_DSR
    }

    /// True when this backend's VIP forwards by DNAT (the client's address kept).
    #[inline(always)]
    pub const fn is_dnat(&self) -> bool {
        self.forward == crate::nat::FORWARD_DNAT
    }

    /// True when existing flows may keep going to this backend.
    #[inline(always)]
    pub const fn keeps_flows(&self) -> bool {
        matches!(
            self.state,
            STATE_ACTIVE | STATE_DRAINING | STATE_DRAINED | STATE_UNHEALTHY
        )
    }
}
