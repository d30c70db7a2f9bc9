//! Plain data shared by the XDP program (`lb-ebpf`) and user space (`lb-userspace`).
//!
//! Everything here is `#[repr(C)]`, made of fixed-width integers and byte arrays,
//! with explicit padding and a size assertion, so the kernel and user space agree
//! on every byte. Addresses are 16 bytes: IPv6 as is, IPv4 as IPv4-mapped IPv6
//! (`::ffff:a.b.c.d`), so one key type serves both families. Ports are kept in
//! network byte order, as they appear on the wire, with host-order accessors.
#![no_std]

pub mod addr;
pub mod backend;
pub mod flow;
pub mod iface;
pub mod maglev;
pub mod maps;
pub mod nat;
pub mod stats;
pub mod vip;

/// Implements `aya::Pod` and bytemuck's traits for the shared types (user space only).
#[cfg(feature = "user")]
macro_rules! user_pod {
    ($($t:ty),* $(,)?) => {
        $(
            // SAFETY: `$t` is `#[repr(C)]`, `Copy`, made only of integers and byte
            // arrays with explicit padding fields, so every bit pattern is valid and
            // it has no implicit padding (checked by the size assertions).
            unsafe impl aya::Pod for $t {}
            // SAFETY: as above.
            unsafe impl bytemuck::Zeroable for $t {}
            // SAFETY: as above.
            unsafe impl bytemuck::Pod for $t {}
        )*
    };
}

#[cfg(feature = "user")]
user_pod!(
    vip::VipKey,
    vip::VipInfo,
    vip::VipAddrSlot,
    backend::Backend,
    flow::FlowKey,
    flow::FlowKey4,
    flow::FlowInfo,
    flow::Handshake,
    iface::OwnMac,
    nat::NatConfig,
    nat::NatForward,
    nat::NatReplyKey,
    nat::NatReply,
    stats::Counters,
);
