//! The other nodes' side of this node's drains (docs/fleet.md), and what it
//! lets the drain step decide: rules that need no etcd. The fleet agent
//! reads the views from etcd; the state holds the gate; the tick asks it.

use std::collections::{BTreeMap, BTreeSet};

use super::{fleet_imported::ImportedFlows, model::BackendEntry};
use crate::cluster::{
    decide::{self, FleetCount},
    model::{NodeName, NodeReport, Revision},
};

/// One drain as the rest of the fleet stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FleetDrainView {
    /// Every live node's count (None: not reported since it applied the drain).
    pub count: FleetCount,
    /// Flows on the other live nodes; a node whose count is not known counts as one.
    pub others: u64,
    /// The other nodes' flows not settled yet (an unknown node counts as one).
    pub others_unsettled: u64,
}

/// The other nodes' side of this node's drains, as the agent last read it.
#[derive(Clone, Debug, Default)]
pub struct FleetGate {
    pub drains: BTreeMap<String, FleetDrainView>,
    /// Connections imported from other nodes' drain sets, by backend.
    pub imported: BTreeMap<String, ImportedFlows>,
}

impl FleetGate {
    /// The fleet-wide count of `backend`'s drain given this node's `local`
    /// count, and whether the other nodes' flows are settled. Nothing heard
    /// yet holds the drain open (counts as one flow elsewhere).
    pub fn with_others(&self, backend: &str, local: u64) -> (u64, bool) {
        match self.drains.get(backend) {
            Some(v) => (local + v.others, v.others_unsettled == 0),
            None => (local + 1, false),
        }
    }
}

/// After a fleet drain's step: the backend's figures are this node's own
/// (the fleet-wide count went into the decision, not into its counts).
pub fn local_figures(b: &mut BackendEntry, local: u64) {
    b.live_flows = b.live_flows.min(local);
    if let Some(d) = b.drain.as_mut() {
        d.forced_flows = d.forced_flows.min(local);
        d.flows_at_exit = d.flows_at_exit.min(local);
    }
}

/// The other nodes' part of `backend`'s drain written at `drain`, from one
/// read of etcd: `me` is left out.
pub fn drain_view(
    backend: &str,
    drain: Revision,
    me: &NodeName,
    live: &BTreeSet<NodeName>,
    reports: &BTreeMap<NodeName, NodeReport>,
) -> FleetDrainView {
    let count = decide::fleet_count(backend, drain, live, reports);
    let mut others = 0;
    let mut others_unsettled = 0;
    for (node, c) in count.per_node.iter().filter(|(n, _)| *n != me) {
        others += c.unwrap_or(1);
        others_unsettled += match (c, reports.get(node)) {
            (Some(_), Some(r)) => r.unsettled.get(backend).copied().unwrap_or(0),
            _ => 1,
        };
    }
    FleetDrainView {
        count,
        others,
        others_unsettled,
    }
}
