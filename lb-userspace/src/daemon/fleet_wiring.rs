//! Wiring the fleet (docs/fleet.md) into the daemon: the channels between
//! the core and the fleet's tasks, and starting those tasks. What the core
//! is told about the fleet is `msg::FleetMsg`.

use std::{collections::BTreeSet, net::IpAddr};

use tokio::{sync::watch, task::JoinSet};

use super::{
    event_loop::Core,
    fleet_agent::{self, FleetLink, LinkSetter, Published},
    fleet_core::FleetSide,
    fleet_drain_set, fleet_node,
    flow_pins::FlowPins,
    msg::Msg,
};
use crate::config::cluster::ClusterConfig;

/// The fleet's tasks' ends of the channels, until they are started.
pub struct FleetStart {
    config: ClusterConfig,
    reports: watch::Receiver<Published>,
    setter: LinkSetter,
    link: FleetLink,
    announce: Option<watch::Receiver<BTreeSet<IpAddr>>>,
    drain_sets: fleet_drain_set::DrainSetTask,
    pins: Option<FlowPins>,
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
        pins: core.starter.pins.clone(),
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
