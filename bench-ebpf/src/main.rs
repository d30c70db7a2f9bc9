//! Reference XDP programs for `cargo xtask bench`: the least an L2 forwarder
//! (`floor`) and a stateful forwarder (`floor_flow`, `floor_flow_pcpu`) can do
//! per packet, to measure each path of `lb` against the reference that does the
//! same kind of work; and `xdp_pass`, for the peer of a veth that receives
//! native-mode XDP_TX frames. Built for the benchmarks only, never shipped.
#![cfg_attr(target_arch = "bpf", no_std)]
#![cfg_attr(target_arch = "bpf", no_main)]
// aya's #[xdp] entry points take their XdpContext by value.
#![allow(clippy::needless_pass_by_value)]

#[cfg(target_arch = "bpf")]
mod programs;

/// On the host the crate has nothing to run; it exists there so that
/// `cargo clippy` can check it.
#[cfg(not(target_arch = "bpf"))]
fn main() {}
