//! [`FleetStore`]: the fleet's shared state in etcd (key layout in
//! [`super::keys`]): admin states (put, read, watch), per-node reports and
//! the fleet-wide count read from them. Registration and the action claim
//! live in `lease.rs` and `claim.rs`, on the same store.

use std::{
    collections::{BTreeMap, BTreeSet},
    time::Duration,
};

use etcd_client::{
    Client, ConnectOptions, EventType, GetOptions, KeyValue, PutOptions, Txn, TxnOp, TxnOpResponse,
    WatchOptions, WatchStream,
};
use serde::{Serialize, de::DeserializeOwned};

use super::{
    decide::{self, FleetCount},
    holder::LeaseHolder,
    keys::Keys,
    model::{AdminRecord, AdminState, KeyPrefix, NodeInfo, NodeName, NodeReport, Revision},
};

/// How long one etcd request may take before it counts as a failure (the
/// caller then goes on with what it knows: forwarding never waits on etcd).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(3);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("etcd: {0}")]
    Etcd(#[from] etcd_client::Error),
    #[error("etcd holds an unreadable value at {key}: {message}")]
    Decode { key: String, message: String },
    #[error(
        "node name {node:?} is already registered in etcd (another node uses it, or this \
         node's previous run ended less than its lease TTL ago: retry after it)"
    )]
    NodeTaken { node: NodeName },
    #[error(
        "etcd's lease for node {node:?} has expired (etcd unreachable for longer than the TTL)"
    )]
    LeaseLost { node: NodeName },
}

pub type StoreResult<T> = Result<T, StoreError>;

/// A connection to the fleet's etcd, with its key layout. Cheap to clone
/// (the etcd client multiplexes one channel).
#[derive(Clone)]
pub struct FleetStore {
    pub(super) client: Client,
    pub(super) keys: Keys,
}

/// One change to a backend's admin state, as a watch reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AdminEvent {
    Set(AdminRecord),
    /// The key was deleted: the backend falls back to its configured state.
    Removed {
        backend: String,
        revision: Revision,
    },
}

impl FleetStore {
    /// Connects to `endpoints` (`http://host:port`). The client reconnects
    /// by itself after etcd comes back.
    pub async fn connect(endpoints: &[String], prefix: KeyPrefix) -> StoreResult<Self> {
        let options = ConnectOptions::new()
            .with_connect_timeout(CONNECT_TIMEOUT)
            .with_timeout(REQUEST_TIMEOUT);
        let client = Client::connect(endpoints, Some(options)).await?;
        Ok(Self {
            client,
            keys: Keys::new(prefix),
        })
    }

    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    /// Writes `backend`'s admin state; returns the revision that identifies it
    /// (a drain's id across the fleet).
    pub async fn put_admin(&self, backend: &str, state: &AdminState) -> StoreResult<Revision> {
        let resp = self
            .client
            .kv_client()
            .put(self.keys.admin(backend), encode(state), None)
            .await?;
        Ok(Revision(
            resp.header()
                .map_or(0, etcd_client::ResponseHeader::revision),
        ))
    }

    /// Every backend's admin state, and the store's revision at the read
    /// (start a watch after it to miss nothing).
    pub async fn admin_states(&self) -> StoreResult<(Vec<AdminRecord>, Revision)> {
        let dir = self.keys.admin_dir();
        let resp = self
            .client
            .kv_client()
            .get(dir.as_str(), Some(GetOptions::new().with_prefix()))
            .await?;
        let at = Revision(
            resp.header()
                .map_or(0, etcd_client::ResponseHeader::revision),
        );
        let records = resp
            .kvs()
            .iter()
            .filter_map(|kv| admin_record(&dir, kv).transpose())
            .collect::<StoreResult<_>>()?;
        Ok((records, at))
    }

    /// Watches admin states from revision `after` + 1 on.
    pub async fn watch_admin(&self, after: Revision) -> StoreResult<AdminWatch> {
        let dir = self.keys.admin_dir();
        let options = WatchOptions::new()
            .with_prefix()
            .with_start_revision(after.0 + 1);
        let stream = self
            .client
            .watch_client()
            .watch(dir.as_str(), Some(options))
            .await?;
        Ok(AdminWatch { dir, stream })
    }

    /// Replaces this node's report (under its lease: it vanishes with the node).
    pub async fn publish_report(
        &self,
        lease: &impl LeaseHolder,
        report: &NodeReport,
    ) -> StoreResult<()> {
        self.client
            .kv_client()
            .put(
                self.keys.live(lease.node()),
                encode(report),
                Some(PutOptions::new().with_lease(lease.id())),
            )
            .await?;
        Ok(())
    }

    /// The live nodes and their reports, read in one transaction so both come
    /// from the same revision.
    pub async fn fleet_view(
        &self,
    ) -> StoreResult<(BTreeMap<NodeName, NodeInfo>, BTreeMap<NodeName, NodeReport>)> {
        let (nodes_dir, live_dir) = (self.keys.nodes_dir(), self.keys.live_dir());
        let txn = Txn::new().and_then([
            TxnOp::get(nodes_dir.as_str(), Some(GetOptions::new().with_prefix())),
            TxnOp::get(live_dir.as_str(), Some(GetOptions::new().with_prefix())),
        ]);
        let resp = self.client.kv_client().txn(txn).await?;
        let mut gets = resp.op_responses().into_iter().filter_map(|r| match r {
            TxnOpResponse::Get(g) => Some(g),
            _ => None,
        });
        let (Some(nodes), Some(reports)) = (gets.next(), gets.next()) else {
            return Err(StoreError::Decode {
                key: nodes_dir,
                message: "etcd answered the read transaction without its two ranges".into(),
            });
        };
        Ok((
            by_node(&nodes_dir, nodes.kvs())?,
            by_node(&live_dir, reports.kvs())?,
        ))
    }

    /// The live nodes (those whose lease is alive).
    pub async fn live_nodes(&self) -> StoreResult<BTreeMap<NodeName, NodeInfo>> {
        Ok(self.fleet_view().await?.0)
    }

    /// `backend`'s live flows summed over every live node, for the drain
    /// written at revision `drain` (see [`decide::fleet_count`]).
    pub async fn fleet_count(&self, backend: &str, drain: Revision) -> StoreResult<FleetCount> {
        let (nodes, reports) = self.fleet_view().await?;
        let live: BTreeSet<NodeName> = nodes.into_keys().collect();
        Ok(decide::fleet_count(backend, drain, &live, &reports))
    }
}

/// A watch on the admin states; dropping it cancels the watch.
pub struct AdminWatch {
    dir: String,
    stream: WatchStream,
}

impl AdminWatch {
    /// The next batch of changes, in revision order; None when etcd ended the
    /// watch (e.g. the revision was compacted: read the states again).
    pub async fn next(&mut self) -> StoreResult<Option<Vec<AdminEvent>>> {
        loop {
            let Some(resp) = self.stream.message().await? else {
                return Ok(None);
            };
            if resp.canceled() {
                return Ok(None);
            }
            let mut out = Vec::new();
            for ev in resp.events() {
                let Some(kv) = ev.kv() else { continue };
                match ev.event_type() {
                    EventType::Put => {
                        if let Some(rec) = admin_record(&self.dir, kv)? {
                            out.push(AdminEvent::Set(rec));
                        }
                    }
                    EventType::Delete => {
                        if let Some(b) = key_str(kv).and_then(|k| Keys::leaf(&self.dir, k)) {
                            out.push(AdminEvent::Removed {
                                backend: b.to_owned(),
                                revision: Revision(kv.mod_revision()),
                            });
                        }
                    }
                }
            }
            // The first response only confirms the watch was created.
            if !out.is_empty() {
                return Ok(Some(out));
            }
        }
    }
}

pub(super) fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    // Our own plain data types: serializing them cannot fail.
    serde_json::to_vec(value).unwrap_or_default()
}

pub(super) fn decode<T: DeserializeOwned>(kv: &KeyValue) -> StoreResult<T> {
    serde_json::from_slice(kv.value()).map_err(|e| StoreError::Decode {
        key: String::from_utf8_lossy(kv.key()).into_owned(),
        message: e.to_string(),
    })
}

fn key_str(kv: &KeyValue) -> Option<&str> {
    std::str::from_utf8(kv.key()).ok()
}

/// The admin record at `kv`, None for a key that is not directly under `dir`.
fn admin_record(dir: &str, kv: &KeyValue) -> StoreResult<Option<AdminRecord>> {
    let Some(backend) = key_str(kv).and_then(|k| Keys::leaf(dir, k)) else {
        return Ok(None);
    };
    Ok(Some(AdminRecord {
        backend: backend.to_owned(),
        state: decode(kv)?,
        revision: Revision(kv.mod_revision()),
    }))
}

/// Values under `dir`, keyed by the node name that ends their key.
fn by_node<T: DeserializeOwned>(dir: &str, kvs: &[KeyValue]) -> StoreResult<BTreeMap<NodeName, T>> {
    let mut out = BTreeMap::new();
    for kv in kvs {
        let Some(node) = key_str(kv)
            .and_then(|k| Keys::leaf(dir, k))
            .and_then(|n| NodeName::new(n).ok())
        else {
            continue;
        };
        out.insert(node, decode(kv)?);
    }
    Ok(out)
}
