//! The program proper; compiled only for the BPF target.
mod admit;
mod bounds;
mod clock;
mod dnat;
mod error;
mod flow;
mod flow_key;
mod forward;
mod icmp;
mod maglev;
mod maps;
mod nat;
mod nat_alloc;
mod nat_csum;
mod nat_fib;
mod nat_reply;
mod nat_rewrite;
mod nat_scratch;
mod packet;
mod parse;
mod stats;
mod vip;

use aya_ebpf::{macros::xdp, programs::XdpContext};
use error::Error;

/// Thin entry: all decisions live in `try_lb`, all error verdicts in `Error::action`.
#[xdp]
// aya's #[xdp] entry point takes its XdpContext by value.
#[allow(clippy::needless_pass_by_value)]
pub fn lb(ctx: XdpContext) -> u32 {
    #[cfg(feature = "test-upgrade")]
    upgrade_marker();
    match try_lb(&ctx) {
        Ok(action) => action,
        Err(e) => {
            stats::count_error(&ctx, &e);
            e.action()
        }
    }
}

#[inline(always)]
fn try_lb(ctx: &XdpContext) -> Result<u32, Error> {
    match try_vip(ctx)? {
        Decision::Verdict(action) => Ok(action),
        Decision::Nat { id, vip_id } => nat::try_request(ctx, id, vip_id),
        Decision::NotVip => nat_reply::try_reply(ctx),
    }
}

/// What the VIP path made of a packet.
enum Decision {
    /// Forwarded by DSR: the verdict.
    Verdict(u32),
    /// For backend `id` of VIP `vip_id`, which forwards by NAT.
    Nat { id: u32, vip_id: u32 },
    /// A well-formed TCP or UDP packet no VIP claims, to a port of the NAT
    /// range: perhaps a backend's reply to a NAT translation.
    NotVip,
}

/// Parse, VIP, flow table, DSR forward. A function of its own, not inlined,
/// so that its stack frame (about 450 bytes) and the NAT paths' sit side by
/// side under `lb` instead of nested: the verifier allows 512 bytes for a
/// whole chain of calls.
#[inline(never)]
fn try_vip(ctx: &XdpContext) -> Result<Decision, Error> {
    let packet = parse::try_parse(ctx).map_err(vip::parse_error)?;
    match try_vip_packet(ctx, &packet) {
        // Only a packet to a port of the NAT range (or from a DNAT
        // backend's port) may be a reply.
        Err(Error::Pass) if nat_reply::may_be_reply(&packet) => Ok(Decision::NotVip),
        decision => decision,
    }
}

#[inline(always)]
fn try_vip_packet(ctx: &XdpContext, packet: &packet::Packet) -> Result<Decision, Error> {
    // The address first: exact, it turns away every non-VIP packet, on
    // whatever port; the port then turns away other ports of a VIP address.
    vip::try_vip_address(packet)?;
    vip::try_vip_port(packet)?;
    let target = flow::try_backend_for(packet)?;
    if target.nat {
        Ok(Decision::Nat {
            id: target.id,
            vip_id: target.vip_id,
        })
    } else {
        forward::try_forward(ctx, packet, target).map(Decision::Verdict)
    }
}

/// Built with `--features test-upgrade` only (the upgrade test's second
/// binary): a harmless store and volatile load of a stack slot, so that
/// program's instructions, and so its tag, differ from the default build's
/// while every map stays the same.
#[cfg(feature = "test-upgrade")]
#[inline(always)]
fn upgrade_marker() {
    let marker: u64 = 0x0b5e_55ed;
    // SAFETY: a read of a live local.
    let _ = unsafe { core::ptr::read_volatile(&marker) };
}

#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    // The bpfel target aborts on panic and the verifier rejects anything that
    // could reach here; this only satisfies `no_std`.
    loop {}
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 13] = *b"Dual MIT/GPL\0";
