//! Loading the XDP program with the map sizes the config asks for.

use aya::{Ebpf, EbpfLoader};
use lb_common::maps as names;

/// Sizes fixed at load time. Changing one later means a new program and new maps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sizes {
    pub max_vips: u32,
    pub max_backends: u32,
    pub max_flows: u32,
    /// Entries of `DRAIN_FLOWS`: connections of draining backends at once.
    pub max_drain_flows: u32,
    /// Slots per Maglev half (prime).
    pub maglev_size: u32,
}

impl Default for Sizes {
    fn default() -> Self {
        Self {
            max_vips: names::DEFAULT_MAX_VIPS,
            max_backends: names::DEFAULT_MAX_BACKENDS,
            max_flows: names::DEFAULT_MAX_FLOWS,
            max_drain_flows: names::DEFAULT_MAX_DRAIN_FLOWS,
            maglev_size: lb_common::maglev::DEFAULT_MAGLEV_SIZE,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("max_vips × 2 × maglev_size = {0} slots does not fit a BPF array (at most 2^32 - 1)")]
    TableTooLarge(u64),
    #[error("loading the XDP program: {0}")]
    Load(#[from] aya::EbpfError),
}

impl Sizes {
    /// Entries of the `MAGLEV` array: two halves of `M` slots per VIP.
    pub fn maglev_entries(&self) -> Result<u32, LoadError> {
        let n = u64::from(self.max_vips) * 2 * u64::from(self.maglev_size);
        u32::try_from(n).map_err(|_| LoadError::TableTooLarge(n))
    }
}

/// Loads the embedded program and creates its maps at `sizes` (nothing is
/// attached or pinned yet). The verifier runs when the caller loads the
/// program (`Xdp::load`).
pub fn load(sizes: &Sizes) -> Result<Ebpf, LoadError> {
    let orphan_rate = names::orphan_inserts_per_sec(sizes.max_flows);
    load_with(sizes, &orphan_rate, &mut EbpfLoader::new())
}

/// Loads the embedded program on the maps pinned in `pins` (an adopted data
/// plane's, created at `sizes`) instead of new ones: what replacing the
/// running program, or attaching it again, needs.
pub fn load_on_pins(sizes: &Sizes, pins: &super::pins::PinDir) -> Result<Ebpf, LoadError> {
    let paths: Vec<_> = names::ALL
        .iter()
        .map(|name| (*name, pins.map(name)))
        .collect();
    let orphan_rate = names::orphan_inserts_per_sec(sizes.max_flows);
    let mut loader = EbpfLoader::new();
    for (name, path) in &paths {
        loader.map_pin_path(name, path.as_path());
    }
    load_with(sizes, &orphan_rate, &mut loader)
}

/// `orphan_rate`: the per-CPU budget of flow entries made by packets that
/// are not a handshake's (a load-time global; see `lb_common::maps`).
// aya's set_global borrows the value for the loader's lifetime.
#[allow(clippy::trivially_copy_pass_by_ref)]
fn load_with<'a>(
    sizes: &'a Sizes,
    orphan_rate: &'a u64,
    loader: &mut EbpfLoader<'a>,
) -> Result<Ebpf, LoadError> {
    let maglev_entries = sizes.maglev_entries()?;
    let ebpf = loader
        .override_global(names::GLOBAL_MAGLEV_SIZE, &sizes.maglev_size, true)
        .override_global(names::GLOBAL_ORPHAN_INSERTS_PER_SEC, orphan_rate, true)
        // Each VIP has its own key plus at most one address marker.
        .map_max_entries(names::VIPS, sizes.max_vips * 2)
        .map_max_entries(names::BACKENDS, sizes.max_backends)
        .map_max_entries(names::FLOWS, sizes.max_flows)
        .map_max_entries(names::FLOWS4, sizes.max_flows)
        .map_max_entries(names::DRAIN_FLOWS, sizes.max_drain_flows)
        // One translation per flow, each way.
        .map_max_entries(names::NAT_FWD, sizes.max_flows)
        .map_max_entries(names::NAT_REV, sizes.max_flows)
        .map_max_entries(names::MAGLEV, maglev_entries)
        .map_max_entries(names::MAGLEV_LIVE_HALF, sizes.max_vips)
        .map_max_entries(names::VIP_STATS, sizes.max_vips)
        .map_max_entries(names::BACKEND_STATS, sizes.max_backends)
        .load(super::object::BYTES)?;
    Ok(ebpf)
}

/// The `lb` XDP program of a loaded object, through the kernel's verifier
/// (loaded, not attached).
pub fn verified_program(ebpf: &mut Ebpf) -> anyhow::Result<&mut aya::programs::Xdp> {
    use anyhow::Context as _;
    let prog: &mut aya::programs::Xdp = ebpf
        .program_mut(names::PROGRAM)
        .context("the embedded object has no `lb` program")?
        .try_into()?;
    prog.load()
        .context("the kernel's verifier rejected the XDP program")?;
    Ok(prog)
}
