//! The program proper; compiled only for the BPF target.
mod admit;
mod clock;
mod error;
mod flow;
mod flow_key;
mod forward;
mod icmp;
mod maglev;
mod maps;
mod parse;
mod stats;

use aya_ebpf::{macros::xdp, programs::XdpContext};

use error::Error;

/// Thin entry: all decisions live in `try_lb`, all error verdicts in `Error::action`.
#[xdp]
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
    let packet = parse::try_parse(ctx).map_err(|e| e.into_error())?;
    maps::try_vip_port(&packet)?;
    maps::try_vip_address(&packet)?;
    let target = flow::try_backend_for(&packet)?;
    forward::try_forward(ctx, &packet, target)
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
