//! L2 direct server return: the frame goes back out of the interface it came in
//! on, addressed to the backend's MAC; the IP packet is untouched (backends hold
//! the VIP on `lo` and reply straight to the client).

use aya_ebpf::{bindings::xdp_action, programs::XdpContext};
use network_types::eth::EthHdr;

use crate::program::{
    bounds::ptr_at,
    error::{DropReason, Error},
    flow::Target,
    maps::OWN_MAC,
    packet::Packet,
    stats,
};

#[inline(always)]
pub fn try_forward(ctx: &XdpContext, packet: &Packet, target: Target) -> Result<u32, Error> {
    let eth: *mut EthHdr = ptr_at(ctx, 0).ok_or(Error::Drop {
        vip_id: target.vip_id,
        reason: DropReason::Malformed,
    })?;
    let frame = eth as *mut u8;
    // SAFETY: `ptr_at` checked the 14-byte header. MACs are moved as a u32
    // and a u16 each, not as twelve single bytes (see bounds::load on
    // alignment). The new source is the interface's own MAC; until user
    // space has written it, the MAC the client addressed the frame to (a
    // broadcast or multicast one must never be a source).
    unsafe {
        let (src_lo, src_hi) = match OWN_MAC.get_ptr(0) {
            Some(own) if (*own).set != 0 => {
                let own = own.cast::<u64>().read();
                (own as u32, (own >> 32) as u16)
            }
            _ => (
                frame.cast::<u32>().read(),
                frame.add(4).cast::<u16>().read(),
            ),
        };
        let [d0, d1, d2, d3, d4, d5] = target.mac;
        frame
            .cast::<u32>()
            .write(u32::from_ne_bytes([d0, d1, d2, d3]));
        frame
            .add(4)
            .cast::<u16>()
            .write(u16::from_ne_bytes([d4, d5]));
        frame.add(6).cast::<u16>().write(src_lo as u16);
        frame
            .add(8)
            .cast::<u32>()
            .write((src_lo >> 16) | u32::from(src_hi) << 16);
    }
    stats::forwarded(target.vip_id, target.id, packet.frame_len);
    Ok(xdp_action::XDP_TX)
}
