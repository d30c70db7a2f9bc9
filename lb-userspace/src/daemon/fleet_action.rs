//! "The shutdown action runs once in the fleet" (docs/fleet.md): every node
//! whose drain makes the action due claims it with an etcd transaction
//! (`cluster::claim`); the winner runs it and records the result, the others
//! wait for that result and take it as their own outcome. A winner that dies
//! before recording loses its claim with its lease, and a waiting node wins
//! the next attempt: what can then run twice is the action itself (the
//! module docs of `cluster::claim` say exactly what that means).

use std::{
    net::IpAddr,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use tokio::sync::mpsc;

use super::{
    actions, clock::unix_now, drain::Due, exit_watch::watch_exit, fleet_agent::FleetLink, msg::Msg,
};
use crate::{
    api::types::ActionOutcome,
    cluster::{
        ClaimOutcome,
        model::{ActionOutcome as Recorded, ActionResult, Revision},
    },
};

/// Time between claim attempts while another node holds the claim (or etcd
/// is away): a dead winner's claim goes with its lease, at most one TTL.
const RETRY: Duration = Duration::from_millis(250);
/// Attempts to record the result before giving up (the claim then expires
/// with the lease, and another node may run the action again).
const RECORD_ATTEMPTS: u32 = 20;

/// Claims, runs (if this node won) or waits for the action of the drain
/// written at `drain`; reports to the core as the one-box action does.
/// `cancel` stops a waiting claim (the drain was replaced).
pub async fn run_once(
    link: FleetLink,
    due: Due,
    address: IpAddr,
    drain: Revision,
    cancel: Arc<AtomicBool>,
    tx: mpsc::Sender<Msg>,
) {
    let backend = due.backend.clone();
    loop {
        if cancel.load(Ordering::Relaxed) || tx.is_closed() {
            return;
        }
        let Some((store, lease)) = link.session() else {
            tokio::time::sleep(RETRY).await;
            continue;
        };
        match store.claim_action(&lease, &backend, drain).await {
            Ok(ClaimOutcome::Won) => {
                tracing::info!(
                    backend,
                    drain = drain.0,
                    "won the claim: this node runs the shutdown action"
                );
                let (outcome, signalled) =
                    actions::run(due.kind, &due.action, &backend, address).await;
                let recorded = if outcome.ok {
                    Recorded::Done
                } else {
                    Recorded::Failed(outcome.detail.clone())
                };
                let pid = signalled.as_ref().map(|s| s.pid);
                let done = Msg::ActionDone {
                    backend: backend.clone(),
                    outcome,
                    pid,
                };
                let _ = tx.send(done).await;
                record(&link, &backend, drain, recorded).await;
                if let Some(s) = signalled {
                    watch_exit(tx, backend, s.pid, Some(s.pidfd)).await;
                }
                return;
            }
            Ok(ClaimOutcome::Finished(result)) => {
                let _ = tx
                    .send(Msg::ActionDone {
                        backend: backend.clone(),
                        outcome: ran_elsewhere(&due, &result),
                        pid: None,
                    })
                    .await;
                return;
            }
            Ok(ClaimOutcome::HeldBy(_)) => {}
            Err(e) => {
                tracing::warn!(backend, error = %e, "claiming the shutdown action; retrying");
            }
        }
        tokio::time::sleep(RETRY).await;
    }
}

/// Records the result, retrying while etcd is away (bounded).
async fn record(link: &FleetLink, backend: &str, drain: Revision, outcome: Recorded) {
    for _ in 0..RECORD_ATTEMPTS {
        if let Some((store, lease)) = link.session() {
            match store
                .record_result(&lease, backend, drain, outcome.clone())
                .await
            {
                Ok(true) => return,
                Ok(false) => {
                    tracing::warn!(
                        backend,
                        "a result was recorded before this node's (its claim had expired)"
                    );
                    return;
                }
                Err(e) => {
                    tracing::warn!(backend, error = %e, "recording the shutdown action's result; retrying");
                }
            }
        }
        tokio::time::sleep(RETRY).await;
    }
    tracing::error!(
        backend,
        "could not record the shutdown action's result: another node may run it again once this node's claim expires"
    );
}

/// This node's outcome for an action another node ran.
fn ran_elsewhere(due: &Due, result: &ActionResult) -> ActionOutcome {
    let (ok, what) = match &result.outcome {
        Recorded::Done => (true, "done".to_string()),
        Recorded::Failed(detail) => (false, format!("failed: {detail}")),
    };
    ActionOutcome {
        kind: due.kind,
        at: unix_now(),
        ok,
        detail: format!("run once in the fleet, by node {}: {what}", result.node),
    }
}
