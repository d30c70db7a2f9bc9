//! L2 direct server return: the frame goes back out of the interface it came in
//! on, addressed to the backend's MAC; the IP packet is untouched (backends hold
//! the VIP on `lo` and reply straight to the client).

use aya_ebpf::{bindings::xdp_action, programs::XdpContext};
use network_types::eth::EthHdr;

use crate::program::{
    error::{DropReason, Error},
    flow::Target,
    maps::OWN_MAC,
    parse::{Packet, ptr_at},
    stats,
};

#[inline(always)]
pub fn try_forward(ctx: &XdpContext, packet: &Packet, target: Target) -> Result<u32, Error> {
    let eth: *mut EthHdr = ptr_at(ctx, 0).ok_or(Error::Drop {
        vip_id: target.vip_id,
        reason: DropReason::Malformed,
    })?;
    // SAFETY: `ptr_at` checked the bounds. The new source is the interface's
    // own MAC; until user space has written it, the MAC the client addressed
    // the frame to (a broadcast or multicast one must never be a source).
    unsafe {
        (*eth).src_addr = match OWN_MAC.get(0) {
            Some(own) if own.set != 0 => own.mac,
            _ => (*eth).dst_addr,
        };
        (*eth).dst_addr = target.mac;
    }
    stats::forwarded(target.vip_id, target.id, packet.frame_len);
    Ok(xdp_action::XDP_TX)
}
