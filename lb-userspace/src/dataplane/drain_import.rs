//! Another node's drain set put into this node's `DRAIN_FLOWS` (docs/fleet.md,
//! "Shared drain sets"), so that a draining connection the router moves here
//! from that node reaches its backend through the program's second chance
//! (a packet that is not a SYN, with no flow entry, recorded in
//! `DRAIN_FLOWS` for a DRAINING backend goes there).
//!
//! What is never imported, so a connection opened after the drain began is
//! never sent to the draining backend by an imported record:
//! - a 5-tuple this node's flow table pins to another backend: picked here
//!   since the flip (a newer connection on that 5-tuple);
//! - a 5-tuple already recorded here (this node's own record stays its own,
//!   and is not removed when the import ends).
//!
//! A record imported before a new connection reuses its 5-tuple is dropped
//! by that connection's SYN on the node the SYN reaches (flow.rs,
//! `forget_drain_record`, while the VIP has a draining backend).

use aya::maps::{HashMap, MapData, MapError};
use lb_common::flow::FlowKey;

use super::flows::FlowTables;

/// `DRAIN_FLOWS`: 5-tuple -> draining backend id.
pub type DrainFlowMap = HashMap<MapData, FlowKey, u32>;

/// What one import did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Imported {
    /// Records written (removed again when the drain ends).
    pub recorded: Vec<FlowKey>,
    /// Skipped: pinned here to another backend.
    pub newer_here: u64,
    /// Skipped: recorded here already.
    pub known: u64,
    /// Not written: `DRAIN_FLOWS` is full.
    pub full: u64,
}

/// Records `keys` (another node's set of the drain of `backend_id`).
pub fn import(
    flows: &FlowTables,
    drain_flows: &mut DrainFlowMap,
    backend_id: u32,
    keys: &[FlowKey],
) -> Imported {
    let mut out = Imported::default();
    for key in keys {
        match flows.get(key, 0) {
            Ok(info) if info.backend_id != backend_id => {
                out.newer_here += 1;
                continue;
            }
            _ => {}
        }
        if drain_flows.get(key, 0).is_ok() {
            out.known += 1;
            continue;
        }
        match drain_flows.insert(key, backend_id, 0) {
            Ok(()) => out.recorded.push(*key),
            Err(MapError::SyscallError(_)) => out.full += 1,
            Err(e) => {
                tracing::warn!(error = %e, "recording an imported drain flow");
                out.full += 1;
            }
        }
    }
    if out.full > 0 {
        tracing::warn!(
            not_recorded = out.full,
            "DRAIN_FLOWS is full: some imported connections of the draining backend would not survive a move to this node"
        );
    }
    out
}

/// Removes the records an import wrote, unless they now name another
/// backend (this node's own drain of it recorded them since).
pub fn remove(drain_flows: &mut DrainFlowMap, backend_id: u32, keys: &[FlowKey]) {
    for key in keys {
        if drain_flows.get(key, 0).is_ok_and(|id| id == backend_id) {
            let _ = drain_flows.remove(key);
        }
    }
}
