//! A node's membership: its liveness key under an etcd lease kept alive by a
//! background task. No membership protocol of our own: a node is live
//! exactly while etcd holds its lease; when it dies (or loses etcd for longer
//! than the TTL) etcd deletes its keys (`nodes/<node>`, `live/<node>`, any
//! action claim it holds) and every other node sees it in one read.

use std::time::Duration;

use etcd_client::{Compare, CompareOp, PutOptions, Txn, TxnOp};
use tokio::{sync::watch, task::JoinHandle};

use super::{
    holder::{LeaseHolder, LeaseRef},
    model::{NodeInfo, NodeName, now_ms},
    store::{FleetStore, StoreError, StoreResult, encode},
};

/// etcd refuses shorter leases in practice (its minimum TTL is derived from
/// the election timeout, 1.5 s by default, rounded up).
pub const MIN_LEASE_TTL: Duration = Duration::from_secs(2);
pub const DEFAULT_LEASE_TTL: Duration = Duration::from_secs(5);

impl LeaseHolder for NodeLease {
    fn node(&self) -> &NodeName {
        &self.node
    }
    fn id(&self) -> i64 {
        self.id
    }
}

/// Whether the node's lease is still alive, as far as the keepalive knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LeaseState {
    Alive,
    /// etcd answered TTL 0: the lease and every key under it are gone.
    Lost,
}

/// This node's registration. Dropping it stops the keepalive without
/// revoking: the lease then runs out after its TTL, exactly as if the node
/// had died (which is what tests use it for). [`NodeLease::revoke`] is the
/// clean way out.
pub struct NodeLease {
    node: NodeName,
    id: i64,
    ttl: Duration,
    state: watch::Receiver<LeaseState>,
    keeper: JoinHandle<()>,
}

impl NodeLease {
    pub fn node(&self) -> &NodeName {
        &self.node
    }

    /// The etcd lease id (keys written with it vanish with the node).
    pub fn id(&self) -> i64 {
        self.id
    }

    /// Its name and id, for other tasks (keys written with it vanish with the node).
    pub fn reference(&self) -> LeaseRef {
        LeaseRef {
            node: self.node.clone(),
            id: self.id,
        }
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    pub fn state(&self) -> LeaseState {
        *self.state.borrow()
    }

    /// Revokes the lease now: the node's keys disappear at once.
    pub async fn revoke(self, store: &FleetStore) -> StoreResult<()> {
        self.keeper.abort();
        store.client.lease_client().revoke(self.id).await?;
        Ok(())
    }
}

impl Drop for NodeLease {
    fn drop(&mut self) {
        self.keeper.abort();
    }
}

impl FleetStore {
    /// Registers `node` under a new lease of `ttl` (whole seconds, at least
    /// [`MIN_LEASE_TTL`]) and keeps it alive. Fails with
    /// [`StoreError::NodeTaken`] if a live node already has that name.
    pub async fn register(&self, node: &NodeName, ttl: Duration) -> StoreResult<NodeLease> {
        let ttl = ttl.max(MIN_LEASE_TTL);
        let secs = i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX);
        let id = self.client.lease_client().grant(secs, None).await?.id();
        let key = self.keys.node(node);
        let info = NodeInfo {
            node: node.clone(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            started_at_ms: now_ms(),
        };
        // Create-if-absent: two nodes configured with the same name must not
        // both believe they are it.
        let txn = Txn::new()
            .when([Compare::create_revision(key.as_str(), CompareOp::Equal, 0)])
            .and_then([TxnOp::put(
                key.as_str(),
                encode(&info),
                Some(PutOptions::new().with_lease(id)),
            )]);
        let created = self.client.kv_client().txn(txn).await?.succeeded();
        if !created {
            let _ = self.client.lease_client().revoke(id).await;
            return Err(StoreError::NodeTaken { node: node.clone() });
        }
        let (tx, rx) = watch::channel(LeaseState::Alive);
        let keeper = tokio::spawn(keep_alive(self.clone(), id, ttl, tx));
        Ok(NodeLease {
            node: node.clone(),
            id,
            ttl,
            state: rx,
            keeper,
        })
    }
}

/// Refreshes lease `id` every third of its TTL, so two refreshes can fail
/// before it expires. A broken keepalive stream (etcd restarting) is opened
/// again on the next tick; only etcd's own "TTL 0" answer means lost.
async fn keep_alive(store: FleetStore, id: i64, ttl: Duration, state: watch::Sender<LeaseState>) {
    let period = ttl / 3;
    let mut stream = None;
    loop {
        // Opening the stream sends the first refresh; later ticks send one each.
        let sent = match stream.as_mut() {
            None => match store.client.lease_client().keep_alive(id).await {
                Ok(s) => {
                    stream = Some(s);
                    true
                }
                Err(_) => false,
            },
            Some((keeper, _)) => keeper.keep_alive().await.is_ok(),
        };
        if let (true, Some((_, responses))) = (sent, stream.as_mut()) {
            match tokio::time::timeout(period, responses.message()).await {
                Ok(Ok(Some(resp))) if resp.ttl() <= 0 => {
                    let _ = state.send(LeaseState::Lost);
                    return;
                }
                Ok(Ok(Some(_))) => {}
                // Stream ended, failed or stalled: reopen it next time.
                _ => stream = None,
            }
        } else {
            stream = None;
        }
        tokio::time::sleep(period).await;
    }
}
