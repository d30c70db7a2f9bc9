//! The fleet's bodies of the control API (`lb status --fleet`, `lb node`,
//! a drain's fleet-wide count; docs/fleet.md), part of the same contract as
//! the rest of [`super`].

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// `GET /v1/fleet` (`lb status --fleet`): the fleet as etcd shows it, read
/// by the node that answers (docs/fleet.md).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct FleetStatus {
    /// The node that answered.
    pub node: String,
    /// Every live node (its lease alive), by name.
    pub nodes: Vec<FleetNodeStatus>,
    /// Every admin state written to etcd, by backend.
    pub admin: Vec<FleetAdminStatus>,
}

/// One live node and its latest report.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct FleetNodeStatus {
    pub node: String,
    pub version: String,
    pub started_at_ms: u64,
    /// Live flows per backend on that node (empty before its first report).
    pub live_flows: BTreeMap<String, u64>,
    /// The admin-state revision it had applied when it counted.
    pub applied: i64,
    /// When it counted (None: no report yet).
    pub counted_at_ms: Option<u64>,
    /// Per draining backend, the connections it imported from the other
    /// nodes' drain sets (docs/fleet.md, "Shared drain sets").
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub imported: BTreeMap<String, u64>,
}

/// One backend's admin state in etcd.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct FleetAdminStatus {
    pub backend: String,
    /// "active", "draining" or "disabled".
    pub state: String,
    /// The etcd revision that wrote it (a drain's id in the fleet).
    pub revision: i64,
    /// The node whose command started a drain.
    pub requested_by: Option<String>,
}

/// `GET /v1/node`, `POST /v1/node/drain`, `POST /v1/node/enable`: this
/// node behind the router (docs/fleet.md).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct NodeStatus {
    pub node: String,
    /// "joining" (not reconciled with etcd yet), "serving", "draining"
    /// (`lb node drain`) or "leaving" (stopping).
    pub mode: String,
    /// The VIPs it announces.
    pub announced: Vec<String>,
    /// Flows in this node's table that are still live (not closed, not
    /// idle past the idle timeout).
    pub live_flows: u64,
    /// After `lb node drain`: `live_flows` comes from a count of the flow
    /// table taken after the router stopped sending new flows here.
    pub counted_since_drain: bool,
}

/// A drain's live flows over the fleet (docs/fleet.md).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct FleetDrainStatus {
    /// Over every live node whose count is known.
    pub total: u64,
    /// Each live node's count; null: not reported since it applied the drain
    /// (it holds the drain open until it does, or until the deadline).
    pub nodes: BTreeMap<String, Option<u64>>,
}
