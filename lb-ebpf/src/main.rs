//! The lb XDP program: spreads connections to VIPs over backends with Maglev,
//! keeps each connection on its backend through the flow table, forwards by L2
//! direct server return. Anything not addressed to a VIP passes untouched.
#![cfg_attr(target_arch = "bpf", no_std)]
#![cfg_attr(target_arch = "bpf", no_main)]

#[cfg(target_arch = "bpf")]
mod program;

/// On the host the crate has nothing to run; it exists there so that
/// `cargo clippy --workspace` can check it.
#[cfg(not(target_arch = "bpf"))]
fn main() {}
