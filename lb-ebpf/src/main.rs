//! The lb XDP program: spreads connections to VIPs over backends with Maglev,
//! keeps each connection on its backend through the flow table, forwards by L2
//! direct server return. Anything not addressed to a VIP passes untouched.
#![cfg_attr(target_arch = "bpf", no_std)]
#![cfg_attr(target_arch = "bpf", no_main)]
// aya-ebpf's map helpers take `impl Borrow<K>`; clippy asks to pass keys and
// values by value, but then every call copies them (a 40-byte flow key: about
// 40 more instructions per lookup, measured by the benchmarks). By reference,
// on purpose.
#![allow(clippy::needless_borrows_for_generic_args)]
// The program reads packet and map memory through raw pointers that the
// verifier bounds: `as` casts between them mirror the C headers, and several
// reads are words at packet offsets with no alignment promise (BPF loads need
// none). Rewriting them would change the hot path for no gain.
#![allow(
    clippy::cast_ptr_alignment,
    clippy::ptr_as_ptr,
    clippy::ref_as_ptr,
    clippy::borrow_as_ptr
)]

#[cfg(target_arch = "bpf")]
mod program;

/// On the host the crate has nothing to run; it exists there so that
/// `cargo clippy --workspace` can check it.
#[cfg(not(target_arch = "bpf"))]
fn main() {}
