//! The fleet agent (docs/fleet.md): the daemon's one link to etcd. It
//! registers the node under a lease, reads every admin state (the node
//! reconciles), then watches admin/ and hands each change to the core as a
//! message; it publishes the node's report whenever the core's counts
//! change. It owns no state of the core's: when etcd is gone it goes on
//! trying, and the core goes on with what it last applied (forwarding and
//! running drains never wait on etcd). The API's handle writes admin states
//! through the same connection ([`FleetLink`]).

use std::time::Duration;

use tokio::sync::{mpsc, watch};

use super::event_loop::Msg;
use crate::{
    cluster::{
        FleetStore, LeaseState, NodeLease,
        model::{AdminRecord, AdminState, NodeName, NodeReport},
    },
    config::cluster::ClusterConfig,
};

/// Time between attempts while etcd is unreachable.
const RETRY: Duration = Duration::from_millis(500);
/// How often a live session checks its lease and republishes a report that
/// could not be written.
const CHECK: Duration = Duration::from_secs(1);

/// What the API's handle needs to write admin states: the node's name and
/// the connection, once there is one.
#[derive(Clone)]
pub struct FleetLink {
    pub node: NodeName,
    store: watch::Receiver<Option<FleetStore>>,
}

impl FleetLink {
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

/// Starts the agent for `config`: returns the handle's link and the task.
pub fn start(
    config: ClusterConfig,
    core: mpsc::Sender<Msg>,
    reports: watch::Receiver<NodeReport>,
) -> (
    FleetLink,
    impl std::future::Future<Output = anyhow::Result<()>>,
) {
    let (store_tx, store_rx) = watch::channel(None);
    let link = FleetLink {
        node: config.node.clone(),
        store: store_rx,
    };
    (link, run(config, core, reports, store_tx))
}

async fn run(
    config: ClusterConfig,
    core: mpsc::Sender<Msg>,
    mut reports: watch::Receiver<NodeReport>,
    store_tx: watch::Sender<Option<FleetStore>>,
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
    store_tx.send_replace(Some(store.clone()));
    let mut lease: Option<NodeLease> = None;
    loop {
        if core.is_closed() {
            break;
        }
        match session(&config, &store, &mut lease, &core, &mut reports).await {
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
    reports: &mut watch::Receiver<NodeReport>,
) -> anyhow::Result<()> {
    if lease.as_ref().is_none_or(|l| l.state() == LeaseState::Lost) {
        *lease = None;
        let l = store.register(&config.node, config.lease_ttl).await?;
        tracing::info!(node = %config.node, lease = l.id(), "registered in the fleet");
        *lease = Some(l);
    }
    let Some(l) = lease.as_ref() else {
        return Ok(());
    };
    let (records, at) = store.admin_states().await?;
    if core
        .send(Msg::FleetAdmin {
            records,
            read_at: Some(at),
        })
        .await
        .is_err()
    {
        return Ok(());
    }
    let mut watch = store.watch_admin(at).await?;
    let report = reports.borrow_and_update().clone();
    store.publish_report(l, &report).await?;
    let mut check = tokio::time::interval(CHECK);
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
                if core.send(Msg::FleetAdmin { records, read_at: None }).await.is_err() {
                    return Ok(());
                }
            }
            changed = reports.changed() => {
                if changed.is_err() {
                    return Ok(());
                }
                let report = reports.borrow_and_update().clone();
                store.publish_report(l, &report).await?;
            }
            _ = check.tick() => {
                if l.state() == LeaseState::Lost {
                    anyhow::bail!("the node's lease expired (etcd unreachable for longer than {:?})", l.ttl());
                }
            }
        }
    }
}
