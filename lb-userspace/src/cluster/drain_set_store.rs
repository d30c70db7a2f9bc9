//! Drain sets in etcd (docs/fleet.md, "Shared drain sets"): a node publishes
//! the connections it had pinned to a draining backend when the drain began
//! (chunks first, then the manifest that says they are all there), the other
//! nodes read them, and the sets are deleted when the drain ends. Not under
//! the node's lease: a set is needed exactly when its node has died.

use std::collections::BTreeMap;

use etcd_client::{DeleteOptions, GetOptions, Txn, TxnOp};
use lb_common::flow::FlowKey;

use super::{
    drain_set::{self, DecodeError},
    model::{DrainSetManifest, NodeName, Revision, now_ms},
    store::{FleetStore, StoreError, StoreResult, decode, encode},
};

/// What a publication or a read of drain sets cost: etcd requests and the
/// bytes of the encoded sets they carried.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EtcdCost {
    pub requests: u64,
    pub bytes: u64,
}

impl std::ops::AddAssign for EtcdCost {
    fn add_assign(&mut self, o: Self) {
        self.requests += o.requests;
        self.bytes += o.bytes;
    }
}

fn chunk_error(key: &str, e: &DecodeError) -> StoreError {
    StoreError::Decode {
        key: key.to_owned(),
        message: e.to_string(),
    }
}

impl FleetStore {
    /// Publishes `node`'s set of `backend`'s drain `drain`: one put per
    /// chunk, then the manifest.
    pub async fn publish_drain_set(
        &self,
        backend: &str,
        drain: Revision,
        node: &NodeName,
        keys: &[FlowKey],
    ) -> StoreResult<(DrainSetManifest, EtcdCost)> {
        let chunks = drain_set::encode(keys);
        let mut kv = self.client.kv_client();
        let mut cost = EtcdCost::default();
        for (i, chunk) in chunks.iter().enumerate() {
            let key = self.keys.drain_set_chunk(backend, drain, node, i as u32);
            cost.bytes += chunk.len() as u64;
            kv.put(key, chunk.as_slice(), None).await?;
            cost.requests += 1;
        }
        let manifest = DrainSetManifest {
            node: node.clone(),
            flows: keys.len() as u64,
            chunks: chunks.len() as u32,
            bytes: cost.bytes,
            published_at_ms: now_ms(),
        };
        kv.put(
            self.keys.drain_set_manifest(backend, drain, node),
            encode(&manifest),
            None,
        )
        .await?;
        cost.requests += 1;
        Ok((manifest, cost))
    }

    /// Every published manifest of `backend`'s drain `drain`, by node.
    pub async fn drain_set_manifests(
        &self,
        backend: &str,
        drain: Revision,
    ) -> StoreResult<BTreeMap<NodeName, DrainSetManifest>> {
        let dir = self.keys.drain_set_manifests(backend, drain);
        let resp = self
            .client
            .kv_client()
            .get(dir.as_str(), Some(GetOptions::new().with_prefix()))
            .await?;
        let mut out = BTreeMap::new();
        for kv in resp.kvs() {
            let m: DrainSetManifest = decode(kv)?;
            out.insert(m.node.clone(), m);
        }
        Ok(out)
    }

    /// The connections of one published set, chunk by chunk (each read
    /// stays far below gRPC's message limit however large the set).
    pub async fn read_drain_set(
        &self,
        backend: &str,
        drain: Revision,
        manifest: &DrainSetManifest,
    ) -> StoreResult<(Vec<FlowKey>, EtcdCost)> {
        let mut kv = self.client.kv_client();
        let mut keys = Vec::with_capacity(manifest.flows as usize);
        let mut cost = EtcdCost::default();
        for i in 0..manifest.chunks {
            let key = self.keys.drain_set_chunk(backend, drain, &manifest.node, i);
            let resp = kv.get(key.as_str(), None).await?;
            cost.requests += 1;
            let Some(chunk) = resp.kvs().first() else {
                return Err(StoreError::Decode {
                    key,
                    message: "a chunk the manifest names is missing (the set was deleted)".into(),
                });
            };
            cost.bytes += chunk.value().len() as u64;
            keys.extend(drain_set::decode_chunk(chunk.value()).map_err(|e| chunk_error(&key, &e))?);
        }
        Ok((keys, cost))
    }

    /// Deletes `node`'s set of that drain (its manifest first: a reader
    /// never sees a manifest whose chunks are gone, bar a read in between).
    pub async fn delete_drain_set(
        &self,
        backend: &str,
        drain: Revision,
        node: &NodeName,
    ) -> StoreResult<()> {
        let txn = Txn::new().and_then([
            TxnOp::delete(self.keys.drain_set_manifest(backend, drain, node), None),
            TxnOp::delete(
                self.keys.drain_set_chunks(backend, drain, node),
                Some(DeleteOptions::new().with_prefix()),
            ),
        ]);
        self.client.kv_client().txn(txn).await?;
        Ok(())
    }
}
