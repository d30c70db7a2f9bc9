//! The fleet agent (docs/fleet.md): the daemon's one link to etcd. It
//! registers the node under a lease, reads every admin state (the node
//! reconciles), then watches admin/ and hands each change to the core as a
//! message; it publishes the node's report whenever the core's counts
//! change. It owns no state of the core's: when etcd is gone it goes on
//! trying, and the core goes on with what it last applied (forwarding and
//! running drains never wait on etcd). The API's handle writes admin states
//! through the same connection ([`FleetLink`]).

use std::{collections::BTreeMap, time::Duration};

use tokio::sync::{mpsc, watch};

use super::{
    fleet_gate::drain_view,
    msg::{FleetMsg, Msg, TICK},
};
use crate::{
    api::types::{FleetAdminStatus, FleetNodeStatus, FleetStatus},
    cluster::{
        FleetStore, LeaseRef, LeaseState, NodeLease,
        model::{AdminRecord, AdminState, NodeName, NodeReport, Revision},
    },
    config::cluster::ClusterConfig,
};

/// Time between attempts while etcd is unreachable.
const RETRY: Duration = Duration::from_millis(500);
/// How often a live session checks its lease.
const CHECK: Duration = Duration::from_secs(1);

/// What the core hands the fleet agent.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Published {
    pub report: NodeReport,
    /// Drains in progress here, by the revision that started them: the
    /// agent follows their fleet-wide counts.
    pub drains: BTreeMap<String, Revision>,
}

/// What the API's handle and the shutdown action's claim need: the node's
/// name, the connection once there is one, and the node's current lease.
#[derive(Clone)]
pub struct FleetLink {
    pub node: NodeName,
    store: watch::Receiver<Option<FleetStore>>,
    lease: watch::Receiver<Option<LeaseRef>>,
}

/// The agent's side of a [`FleetLink`]: it sets what the link shows.
pub struct LinkSetter {
    store: watch::Sender<Option<FleetStore>>,
    lease: watch::Sender<Option<LeaseRef>>,
}

/// A link for `node`, empty until the agent connects and registers.
pub fn link(node: NodeName) -> (FleetLink, LinkSetter) {
    let (store_tx, store) = watch::channel(None);
    let (lease_tx, lease) = watch::channel(None);
    (
        FleetLink { node, store, lease },
        LinkSetter {
            store: store_tx,
            lease: lease_tx,
        },
    )
}

impl FleetLink {
    /// Every live node's report and the admin states, as etcd has them now.
    pub async fn status(&self) -> Result<FleetStatus, String> {
        let store = self.store.borrow().clone();
        let store = store
            .ok_or_else(|| "etcd has not been reachable since the daemon started".to_string())?;
        let (nodes, reports) = store.fleet_view().await.map_err(|e| e.to_string())?;
        let (admin, _) = store.admin_states().await.map_err(|e| e.to_string())?;
        Ok(FleetStatus {
            node: self.node.to_string(),
            nodes: nodes
                .into_iter()
                .map(|(name, info)| {
                    let report = reports.get(&name);
                    FleetNodeStatus {
                        node: name.to_string(),
                        version: info.version,
                        started_at_ms: info.started_at_ms,
                        live_flows: report.map(|r| r.live_flows.clone()).unwrap_or_default(),
                        applied: report.map_or(0, |r| r.applied.0),
                        counted_at_ms: report.map(|r| r.counted_at_ms),
                        imported: report.map(|r| r.imported.clone()).unwrap_or_default(),
                    }
                })
                .collect(),
            admin: admin
                .into_iter()
                .map(|a| {
                    let (state, by) = match a.state {
                        AdminState::Active => ("active", None),
                        AdminState::Disabled => ("disabled", None),
                        AdminState::Draining(p) => ("draining", Some(p.requested_by.to_string())),
                    };
                    FleetAdminStatus {
                        backend: a.backend,
                        state: state.to_owned(),
                        revision: a.revision.0,
                        requested_by: by,
                    }
                })
                .collect(),
        })
    }

    /// The connection and this node's live registration, if both exist now.
    pub fn session(&self) -> Option<(FleetStore, LeaseRef)> {
        let store = self.store.borrow().clone()?;
        let lease = self.lease.borrow().clone()?;
        Some((store, lease))
    }

    /// Writes `backend`'s admin state; the revision it got is the change's
    /// id across the fleet. Fails (never waits long) while etcd is away.
    pub async fn put_admin(&self, backend: &str, state: AdminState) -> Result<AdminRecord, String> {
        let store = self.store.borrow().clone();
        let store = store
            .ok_or_else(|| "etcd has not been reachable since the daemon started".to_string())?;
        let revision = store
            .put_admin(backend, &state)
            .await
            .map_err(|e| e.to_string())?;
        Ok(AdminRecord {
            backend: backend.to_owned(),
            state,
            revision,
        })
    }
}

/// The agent's task for `config`: it fills `setter`'s link.
pub async fn run(
    config: ClusterConfig,
    core: mpsc::Sender<Msg>,
    mut reports: watch::Receiver<Published>,
    setter: LinkSetter,
) -> anyhow::Result<()> {
    let store = loop {
        match FleetStore::connect(&config.etcd, config.prefix.clone()).await {
            Ok(s) => break s,
            Err(e) => {
                tracing::warn!(error = %e, "etcd unreachable; forwarding goes on with the last known state, retrying");
                tokio::time::sleep(RETRY).await;
            }
        }
    };
    setter.store.send_replace(Some(store.clone()));
    let mut lease: Option<NodeLease> = None;
    loop {
        if core.is_closed() {
            break;
        }
        match session(&config, &store, &mut lease, &core, &mut reports, &setter).await {
            Ok(()) => break,
            Err(e) => {
                tracing::warn!(error = %e, "etcd session ended; forwarding and running drains go on locally, reconnecting");
                tokio::time::sleep(RETRY).await;
            }
        }
    }
    // The core stopped: leave the fleet at once rather than after the TTL.
    if let Some(l) = lease {
        let _ = l.revoke(&store).await;
    }
    Ok(())
}

/// One stretch of contact with etcd: (re-)register if needed, reconcile,
/// then follow the admin states and publish reports until something fails.
/// Ok only when the core is gone.
async fn session(
    config: &ClusterConfig,
    store: &FleetStore,
    lease: &mut Option<NodeLease>,
    core: &mpsc::Sender<Msg>,
    reports: &mut watch::Receiver<Published>,
    setter: &LinkSetter,
) -> anyhow::Result<()> {
    if lease.as_ref().is_none_or(|l| l.state() == LeaseState::Lost) {
        *lease = None;
        setter.lease.send_replace(None);
        let l = store.register(&config.node, config.lease_ttl).await?;
        tracing::info!(node = %config.node, lease = l.id(), "registered in the fleet");
        setter.lease.send_replace(Some(l.reference()));
        *lease = Some(l);
    }
    let Some(l) = lease.as_ref() else {
        return Ok(());
    };
    let (records, at) = store.admin_states().await?;
    if core
        .send(
            FleetMsg::Admin {
                records,
                read_at: Some(at),
            }
            .into(),
        )
        .await
        .is_err()
    {
        return Ok(());
    }
    let mut watch = store.watch_admin(at).await?;
    let mut published = reports.borrow_and_update().clone();
    store.publish_report(l, &published.report).await?;
    let mut check = tokio::time::interval(CHECK);
    let mut follow = tokio::time::interval(TICK);
    follow.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            batch = watch.next() => {
                let Some(events) = batch? else {
                    anyhow::bail!("etcd ended the watch on the admin states");
                };
                let records = events.into_iter().filter_map(|e| match e {
                    crate::cluster::AdminEvent::Set(r) => Some(r),
                    crate::cluster::AdminEvent::Removed { backend, revision } => {
                        tracing::warn!(backend, revision = revision.0, "an admin state was deleted from etcd; the backend keeps its current state");
                        None
                    }
                }).collect();
                if core.send(FleetMsg::Admin { records, read_at: None }.into()).await.is_err() {
                    return Ok(());
                }
            }
            changed = reports.changed() => {
                if changed.is_err() {
                    return Ok(());
                }
                let next = reports.borrow_and_update().clone();
                if next.report != published.report {
                    store.publish_report(l, &next.report).await?;
                }
                published = next;
            }
            _ = follow.tick(), if !published.drains.is_empty() => {
                let (nodes, reports) = store.fleet_view().await?;
                let live = nodes.into_keys().collect();
                let views = published
                    .drains
                    .iter()
                    .map(|(b, rev)| (b.clone(), drain_view(b, *rev, &config.node, &live, &reports)))
                    .collect();
                if core.send(FleetMsg::Counts(views).into()).await.is_err() {
                    return Ok(());
                }
            }
            _ = check.tick() => {
                if l.state() == LeaseState::Lost {
                    anyhow::bail!("the node's lease expired (etcd unreachable for longer than {:?})", l.ttl());
                }
            }
        }
    }
}
