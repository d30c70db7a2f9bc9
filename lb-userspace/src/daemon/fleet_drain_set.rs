//! Shared drain sets (docs/fleet.md): the task that publishes this node's
//! drain set of each drain and imports the other nodes' sets into its own
//! `DRAIN_FLOWS`, so that a draining connection the router moves here (its
//! node died or was withdrawn) still reaches its backend.
//!
//! The core decides and owns the counts; this task only carries sets between
//! etcd and the data plane:
//! - the core hands it this node's set once the drain's flows are collected
//!   (after the flip: connections opened after it are never in a set);
//! - while a drain runs here (and its own flows are collected: an import
//!   before would be taken for this node's own by the collection), it polls
//!   the drain's manifests and imports each other node's set once, telling
//!   the core what it recorded (the core follows those flows once they show
//!   up in this node's flow table);
//! - when the drain ends here it removes what it imported, deletes this
//!   node's set and those of nodes no longer alive (nobody else will).

use std::{
    collections::{BTreeMap, BTreeSet},
    time::Duration,
};

use lb_common::flow::FlowKey;
use tokio::sync::{mpsc, watch};

use super::{
    fleet_agent::FleetLink,
    flow_pins::FlowPins,
    msg::{FleetMsg, Msg},
};
use crate::{
    cluster::{FleetStore, model::Revision},
    dataplane::drain_import,
};

/// How often the manifests of running drains are read.
const POLL: Duration = Duration::from_millis(200);

/// A drain running here whose own flows are collected: its set is shared
/// and the other nodes' sets are imported.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SharedDrain {
    pub drain: Revision,
    pub backend_id: u32,
}

/// By backend name.
pub type SharedDrains = BTreeMap<String, SharedDrain>;

/// This node's set of one drain, to publish.
pub struct OwnSet {
    pub backend: String,
    pub drain: Revision,
    pub keys: Vec<FlowKey>,
}

/// The core's ends of the task's channels.
pub struct DrainSetLink {
    pub drains: watch::Sender<SharedDrains>,
    pub own: mpsc::UnboundedSender<OwnSet>,
}

/// The task's ends.
pub struct DrainSetTask {
    drains: watch::Receiver<SharedDrains>,
    own: mpsc::UnboundedReceiver<OwnSet>,
}

pub fn channels() -> (DrainSetLink, DrainSetTask) {
    let (drains_tx, drains) = watch::channel(SharedDrains::new());
    let (own_tx, own) = mpsc::unbounded_channel();
    (
        DrainSetLink {
            drains: drains_tx,
            own: own_tx,
        },
        DrainSetTask { drains, own },
    )
}

type DrainId = (String, Revision);

/// What the task did for one drain.
#[derive(Default)]
struct Progress {
    /// Nodes whose set was imported (or was found empty, or was this node's).
    imported_from: BTreeSet<crate::cluster::model::NodeName>,
    /// Records this node wrote for them (removed when the drain ends).
    recorded: Vec<FlowKey>,
    backend_id: u32,
}

/// Runs until the core is gone. Without a data plane nothing is imported
/// (there is no `DRAIN_FLOWS`); sets are still published.
pub async fn run(
    link: FleetLink,
    mut task: DrainSetTask,
    pins: Option<FlowPins>,
    core: mpsc::Sender<Msg>,
) -> anyhow::Result<()> {
    let mut pending: Vec<OwnSet> = Vec::new();
    let mut drains: BTreeMap<DrainId, Progress> = BTreeMap::new();
    let mut poll = tokio::time::interval(POLL);
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            set = task.own.recv() => match set {
                Some(s) => pending.push(s),
                None => return Ok(()),
            },
            changed = task.drains.changed() => if changed.is_err() { return Ok(()) },
            _ = poll.tick() => {}
        }
        let current = task.drains.borrow().clone();
        let Some((store, _)) = link.session() else {
            continue;
        };
        // Drains that ended here.
        let ended: Vec<DrainId> = drains
            .keys()
            .filter(|(b, rev)| current.get(b).is_none_or(|d| d.drain != *rev))
            .cloned()
            .collect();
        for id in ended {
            let Some(p) = drains.get(&id) else { continue };
            if !p.recorded.is_empty()
                && let Some(pins) = pins.clone()
            {
                let (keys, backend_id) = (p.recorded.clone(), p.backend_id);
                let removed = tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
                    let mut map = pins.open_drain_flows()?;
                    drain_import::remove(&mut map, backend_id, &keys);
                    Ok(())
                })
                .await;
                if let Ok(Err(e)) = removed {
                    tracing::warn!(error = %format!("{e:#}"), "removing imported drain flows");
                }
            }
            if clean_up(&store, &link, &id).await.is_ok() {
                drains.remove(&id);
                tracing::info!(backend = id.0, drain = id.1.0, "drain sets removed");
            }
        }
        // This node's sets.
        // A set of a drain replaced meanwhile goes; one of a drain not shared
        // (yet, or any more) waits.
        pending.retain(|s| current.get(&s.backend).is_none_or(|d| d.drain == s.drain));
        let mut still = Vec::new();
        for set in pending.drain(..) {
            if current
                .get(&set.backend)
                .is_none_or(|d| d.drain != set.drain)
            {
                still.push(set);
                continue;
            }
            match store
                .publish_drain_set(&set.backend, set.drain, &link.node, &set.keys)
                .await
            {
                Ok((m, cost)) => {
                    tracing::info!(
                        backend = set.backend,
                        flows = m.flows,
                        chunks = m.chunks,
                        bytes = cost.bytes,
                        "drain set published"
                    );
                    // Known from now on, so it is deleted when the drain ends.
                    drains.entry((set.backend, set.drain)).or_default();
                }
                Err(e) => {
                    tracing::warn!(error = %e, "publishing the drain set; retrying");
                    still.push(set);
                }
            }
        }
        pending = still;
        // The other nodes' sets.
        for (backend, d) in &current {
            let id = (backend.clone(), d.drain);
            if let Err(e) =
                import_new(&store, &link, pins.as_ref(), &core, &id, d, &mut drains).await
            {
                tracing::warn!(backend, error = %e, "importing drain sets; retrying");
            }
        }
    }
}

/// Imports every set of drain `id` published since the last look.
async fn import_new(
    store: &FleetStore,
    link: &FleetLink,
    pins: Option<&FlowPins>,
    core: &mpsc::Sender<Msg>,
    id: &DrainId,
    d: &SharedDrain,
    drains: &mut BTreeMap<DrainId, Progress>,
) -> anyhow::Result<()> {
    let manifests = store.drain_set_manifests(&id.0, id.1).await?;
    let progress = drains.entry(id.clone()).or_default();
    progress.backend_id = d.backend_id;
    for (node, m) in manifests {
        if node == link.node || progress.imported_from.contains(&node) {
            continue;
        }
        let (keys, cost) = store.read_drain_set(&id.0, id.1, &m).await?;
        let recorded = match pins.cloned() {
            Some(pins) => {
                let backend_id = d.backend_id;
                tokio::task::spawn_blocking(move || -> anyhow::Result<drain_import::Imported> {
                    let flows = pins.open_flows()?;
                    let mut map = pins.open_drain_flows()?;
                    Ok(drain_import::import(&flows, &mut map, backend_id, &keys))
                })
                .await??
            }
            None => drain_import::Imported::default(),
        };
        tracing::info!(
            backend = id.0,
            from = %node,
            flows = m.flows,
            recorded = recorded.recorded.len(),
            newer_here = recorded.newer_here,
            known = recorded.known,
            bytes = cost.bytes,
            requests = cost.requests,
            "drain set imported"
        );
        progress.imported_from.insert(node);
        progress.recorded.extend_from_slice(&recorded.recorded);
        let msg = FleetMsg::Imported {
            backend: id.0.clone(),
            drain: id.1,
            keys: recorded.recorded,
        };
        if core.send(msg.into()).await.is_err() {
            return Ok(());
        }
    }
    Ok(())
}

/// Deletes this node's set of a drain that ended here and the sets of nodes
/// no longer alive.
async fn clean_up(store: &FleetStore, link: &FleetLink, id: &DrainId) -> anyhow::Result<()> {
    let live = store.live_nodes().await?;
    let manifests = store.drain_set_manifests(&id.0, id.1).await?;
    for node in manifests.keys() {
        if *node == link.node || !live.contains_key(node) {
            store.delete_drain_set(&id.0, id.1, node).await?;
        }
    }
    Ok(())
}
