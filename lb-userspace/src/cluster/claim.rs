//! "The shutdown action runs once in the fleet": an etcd transaction picks
//! the node that runs it, and a result record says it ran.
//!
//! For the drain written at revision R of backend B:
//! - a node that wants to run the action creates `action/B/R/claim` if
//!   neither it nor `action/B/R/result` exists, under its own lease: exactly
//!   one of any number of concurrent claimants wins (etcd serializes
//!   transactions);
//! - the winner runs the action, then writes `action/B/R/result` (no lease)
//!   and deletes its claim; once the result exists, nobody runs it again;
//! - if the winner dies before writing the result, its lease expires, etcd
//!   deletes the claim, and the next claimant wins (a waiting node claims
//!   again on each of its report ticks, or when it sees the claim deleted).
//!
//! What can then happen twice: the action itself, when the winner ran it (or
//! started it) but died, or lost etcd for longer than its lease TTL, before
//! the result was recorded. The next winner cannot know whether it ran, so it
//! runs it again: a second SIGTERM to the same Gunicorn master (harmless: it
//! is already shutting down, or gone, and a missing pid is reported), a
//! second run of the `command` (it must be idempotent, like `systemctl
//! stop`), a second HTTP request. It never runs twice while the first winner
//! is alive and connected, and never after a result was recorded.

use etcd_client::{Compare, CompareOp, PutOptions, Txn, TxnOp, TxnOpResponse};

use super::{
    holder::LeaseHolder,
    model::{ActionClaim, ActionOutcome, ActionResult, Revision, now_ms},
    store::{FleetStore, StoreError, StoreResult, decode, encode},
};

/// What a claim attempt found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClaimOutcome {
    /// This node holds the claim: run the action, then record its result.
    Won,
    /// Another live node (or this node's earlier claim) holds it.
    HeldBy(ActionClaim),
    /// The action has run already.
    Finished(ActionResult),
}

impl FleetStore {
    /// Tries to become the node that runs the shutdown action of the drain
    /// written at `drain` for `backend`.
    pub async fn claim_action(
        &self,
        lease: &impl LeaseHolder,
        backend: &str,
        drain: Revision,
    ) -> StoreResult<ClaimOutcome> {
        let claim_key = self.keys.claim(backend, drain);
        let result_key = self.keys.result(backend, drain);
        let claim = ActionClaim {
            node: lease.node().clone(),
            claimed_at_ms: now_ms(),
        };
        let txn = Txn::new()
            .when([
                Compare::create_revision(claim_key.as_str(), CompareOp::Equal, 0),
                Compare::create_revision(result_key.as_str(), CompareOp::Equal, 0),
            ])
            .and_then([TxnOp::put(
                claim_key.as_str(),
                encode(&claim),
                Some(PutOptions::new().with_lease(lease.id())),
            )])
            .or_else([
                TxnOp::get(result_key.as_str(), None),
                TxnOp::get(claim_key.as_str(), None),
            ]);
        let resp = self.client.kv_client().txn(txn).await?;
        if resp.succeeded() {
            return Ok(ClaimOutcome::Won);
        }
        let mut found = resp.op_responses().into_iter().filter_map(|r| match r {
            TxnOpResponse::Get(g) => g.kvs().first().cloned(),
            _ => None,
        });
        // The result is read first: when both exist, it is what counts.
        match found.next() {
            Some(kv) if kv.key() == result_key.as_bytes() => {
                Ok(ClaimOutcome::Finished(decode(&kv)?))
            }
            Some(kv) => Ok(ClaimOutcome::HeldBy(decode(&kv)?)),
            // The compare failed, so one of the two existed at the revision
            // these reads see too.
            None => Err(StoreError::Decode {
                key: claim_key,
                message: "the claim transaction failed but found neither claim nor result".into(),
            }),
        }
    }

    /// Records what the action did and releases the claim. Returns false if a
    /// result was already there (another node ran it after this node's claim
    /// expired): the first result stays.
    pub async fn record_result(
        &self,
        lease: &impl LeaseHolder,
        backend: &str,
        drain: Revision,
        outcome: ActionOutcome,
    ) -> StoreResult<bool> {
        let claim_key = self.keys.claim(backend, drain);
        let result_key = self.keys.result(backend, drain);
        let result = ActionResult {
            node: lease.node().clone(),
            outcome,
            finished_at_ms: now_ms(),
        };
        let txn = Txn::new()
            .when([Compare::create_revision(
                result_key.as_str(),
                CompareOp::Equal,
                0,
            )])
            .and_then([
                TxnOp::put(result_key.as_str(), encode(&result), None),
                TxnOp::delete(claim_key.as_str(), None),
            ]);
        Ok(self.client.kv_client().txn(txn).await?.succeeded())
    }

    /// The recorded result of drain `drain`'s action, if any.
    pub async fn action_result(
        &self,
        backend: &str,
        drain: Revision,
    ) -> StoreResult<Option<ActionResult>> {
        let resp = self
            .client
            .kv_client()
            .get(self.keys.result(backend, drain), None)
            .await?;
        resp.kvs().first().map(decode).transpose()
    }
}
