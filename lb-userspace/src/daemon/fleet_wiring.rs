//! Wiring the fleet (docs/fleet.md) into the daemon: what the core is told
//! ([`FleetMsg`], one variant of the core's messages), the channels between
//! the core and the fleet's tasks, and starting those tasks.

use std::{
    collections::{BTreeMap, BTreeSet},
    net::IpAddr,
};

use tokio::{sync::watch, task::JoinSet};

use super::{
    event_loop::{Core, Msg, Reply},
    fleet_agent::{self, FleetLink, LinkSetter},
    fleet_core::{Command, FleetDrainView, FleetSide, Published},
    fleet_drain_set, fleet_node,
};
use crate::{
    api::{control::NodeAction, types::NodeStatus},
    cluster::model::{AdminRecord, AdminState, Revision},
    config::cluster::ClusterConfig,
};

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

impl Core {
    /// A whole-table count of the flows arrived (the fleet's report and
    /// `lb node drain` follow it).
    pub(super) fn store_counts(&mut self, counts: &BTreeMap<u32, u64>) {
        self.state.store_counts(counts);
        self.fleet_counted();
    }

    /// After each tick: the report and the VIPs to announce, if changed.
    pub(super) fn fleet_tick(&mut self) {
        self.fleet_report();
        self.fleet_announce();
    }

    pub(super) fn fleet_msg(&mut self, msg: FleetMsg) {
        match msg {
            FleetMsg::Plan {
                name,
                command,
                reply,
            } => {
                let _ = reply.send(self.fleet_plan(&name, command));
            }
            FleetMsg::Admin { records, read_at } => self.fleet_admin(records, read_at),
            FleetMsg::Counts(views) => self.fleet_counts(views),
            FleetMsg::Imported {
                backend,
                drain,
                keys,
            } => self.imported(backend, drain, keys),
            FleetMsg::Node { action, reply } => {
                let _ = reply.send(self.node_command(action));
            }
        }
    }
}

impl From<FleetMsg> for Msg {
    fn from(m: FleetMsg) -> Msg {
        Msg::Fleet(m)
    }
}

/// The fleet's tasks' ends of the channels, until they are started.
pub struct FleetStart {
    config: ClusterConfig,
    reports: watch::Receiver<Published>,
    setter: LinkSetter,
    link: FleetLink,
    announce: Option<watch::Receiver<BTreeSet<IpAddr>>>,
    drain_sets: fleet_drain_set::DrainSetTask,
    pins: Option<super::flow_jobs::FlowPins>,
}

/// With `[cluster]`: gives `core` its side of the fleet.
pub fn attach(core: &mut Core) -> Option<FleetStart> {
    let config = core.state.model.config.cluster.clone()?;
    let node = config.node.clone();
    let (report_tx, reports) = watch::channel(Default::default());
    let (link, setter) = fleet_agent::link(node.clone());
    let mut side = FleetSide::new(node, report_tx, link.clone());
    let announce = config.bgp.as_ref().map(|_| {
        let (tx, rx) = watch::channel(Default::default());
        side.announce = Some(tx);
        rx
    });
    let (sets, drain_sets) = fleet_drain_set::channels();
    side.drain_sets = Some(sets);
    core.fleet = Some(side);
    core.state.fleet = Some(Default::default());
    Some(FleetStart {
        config,
        reports,
        setter,
        link,
        announce,
        drain_sets,
        pins: core.pins.clone(),
    })
}

/// Starts the agent (and the BGP announcer) among the daemon's essential
/// tasks; returns the link for the API's handle.
pub fn spawn(
    f: FleetStart,
    core: tokio::sync::mpsc::Sender<Msg>,
    tasks: &mut JoinSet<(&'static str, anyhow::Result<()>)>,
) -> FleetLink {
    if let (Some(control), Some(sets)) = (f.config.bgp.clone(), f.announce) {
        let bgp = fleet_node::run_bgp(control, sets);
        tasks.spawn(async move { ("the BGP announcer", bgp.await) });
    }
    let sets = fleet_drain_set::run(f.link.clone(), f.drain_sets, f.pins, core.clone());
    tasks.spawn(async move { ("the drain-set task", sets.await) });
    let agent = fleet_agent::run(f.config, core, f.reports, f.setter);
    tasks.spawn(async move { ("the fleet agent", agent.await) });
    f.link
}
