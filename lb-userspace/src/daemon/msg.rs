//! What the core loop is told ([`Msg`]) and how often it ticks. The tasks
//! around the core (API handle, health checkers, flow counter, fleet agent,
//! actions) send these and import nothing of the loop itself.

use std::{collections::BTreeMap, time::Duration};

use tokio::sync::oneshot;

use super::{fleet_gate::FleetDrainView, flow_list::FlowLister, live::Tracked};
use crate::{
    api::{
        control::{ControlResult, NodeAction},
        types::{ActionOutcome, BackendStatus, NodeStatus, ReloadReport, Status, TeardownReport},
    },
    cluster::model::{AdminRecord, AdminState, Revision},
    config::Config,
};

/// How often drains advance and live counts of draining backends refresh.
pub const TICK: Duration = Duration::from_millis(100);
/// How often rates are sampled and unresolved MACs retried.
pub const SLOW_TICK: Duration = Duration::from_secs(1);
/// Messages waiting for the core at most; senders wait beyond that.
pub const QUEUE: usize = 1024;

pub type Reply<T> = oneshot::Sender<ControlResult<T>>;

/// Everything the core is told.
pub enum Msg {
    Status(Reply<Status>),
    Backend {
        name: String,
        reply: Reply<BackendStatus>,
    },
    Drain {
        name: String,
        /// Already bounded where it entered (`config::duration`).
        timeout: Option<Duration>,
        no_signal: bool,
        reply: Reply<BackendStatus>,
    },
    Enable {
        name: String,
        reply: Reply<BackendStatus>,
    },
    Disable {
        name: String,
        reply: Reply<BackendStatus>,
    },
    /// A config already read and validated (off the loop).
    Reload {
        config: Box<Config>,
        reply: Reply<ReloadReport>,
    },
    /// What a flow listing needs; the listing itself runs off the loop.
    Flows {
        backend: Option<String>,
        reply: Reply<FlowLister>,
    },
    Teardown(Reply<TeardownReport>),
    /// SIGTERM / SIGINT.
    Stop,
    Probe {
        name: String,
        addr: std::net::SocketAddr,
        successes: u32,
        failures: u32,
        error: Option<String>,
    },
    Counts(BTreeMap<u32, u64>),
    Collected {
        name: String,
        started_at: f64,
        tracked: Tracked,
    },
    CollectFailed {
        name: String,
    },
    ActionDone {
        backend: String,
        outcome: ActionOutcome,
        pid: Option<u32>,
    },
    ProcessExited {
        backend: String,
        pid: u32,
    },
    Macs(Vec<(String, [u8; 6])>),
    /// `[cluster]` (docs/fleet.md).
    Fleet(FleetMsg),
}

/// What the core is told about the fleet.
pub enum FleetMsg {
    /// The admin state a command should write to etcd (None: nothing to
    /// write); decided by the core, which owns the state.
    Plan {
        name: String,
        command: Command,
        reply: Reply<Option<AdminState>>,
    },
    /// Admin states from etcd, applied in order; `read_at`: the whole set,
    /// read at that revision (the node reconciles).
    Admin {
        records: Vec<AdminRecord>,
        read_at: Option<Revision>,
    },
    /// The other nodes' side of this node's drains.
    Counts(BTreeMap<String, FleetDrainView>),
    /// Connections recorded from another node's set of `backend`'s drain.
    Imported {
        backend: String,
        drain: Revision,
        keys: Vec<lb_common::flow::FlowKey>,
    },
    /// `lb node drain` / `enable` / show.
    Node {
        action: NodeAction,
        reply: Reply<NodeStatus>,
    },
}

impl From<FleetMsg> for Msg {
    fn from(m: FleetMsg) -> Msg {
        Msg::Fleet(m)
    }
}

/// A fleet-wide admin command, as the API took it.
#[derive(Clone, Copy)]
pub enum Command {
    Drain {
        timeout: Option<Duration>,
        no_signal: bool,
    },
    Enable,
    Disable,
}
