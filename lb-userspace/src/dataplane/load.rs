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
        let n = self.max_vips as u64 * 2 * self.maglev_size as u64;
        u32::try_from(n).map_err(|_| LoadError::TableTooLarge(n))
    }
}

/// Loads the embedded program and creates its maps at `sizes` (nothing is
/// attached or pinned yet). The verifier runs when the caller loads the
/// program (`Xdp::load`).
pub fn load(sizes: &Sizes) -> Result<Ebpf, LoadError> {
    let maglev_entries = sizes.maglev_entries()?;
    let ebpf = EbpfLoader::new()
        .override_global(names::GLOBAL_MAGLEV_SIZE, &sizes.maglev_size, true)
        .override_global(
            names::GLOBAL_ORPHAN_INSERTS_PER_SEC,
            &names::orphan_inserts_per_sec(sizes.max_flows),
            true,
        )
        // Each VIP has its own key plus at most one address marker.
        .map_max_entries(names::VIPS, sizes.max_vips * 2)
        .map_max_entries(names::BACKENDS, sizes.max_backends)
        .map_max_entries(names::FLOWS, sizes.max_flows)
        .map_max_entries(names::FLOWS4, sizes.max_flows)
        .map_max_entries(names::DRAIN_FLOWS, sizes.max_drain_flows)
        .map_max_entries(names::MAGLEV, maglev_entries)
        .map_max_entries(names::MAGLEV_LIVE_HALF, sizes.max_vips)
        .map_max_entries(names::VIP_STATS, sizes.max_vips)
        .map_max_entries(names::BACKEND_STATS, sizes.max_backends)
        .load(super::object::BYTES)?;
    Ok(ebpf)
}
