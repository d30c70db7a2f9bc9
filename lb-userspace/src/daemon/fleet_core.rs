//! The core loop's side of the fleet (docs/fleet.md): admin states from etcd
//! applied to this node's state, the admin state a command should write, and
//! the node's report of its live counts. The core owns all of it (its
//! [`FleetSide`], beside the [`State`]); the fleet agent (`fleet_agent`) only
//! carries it to and from etcd, the drain-set task (`fleet_drain_set`) the
//! sets.

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
};

use lb_common::flow::FlowKey;
use tokio::sync::watch;

use super::{
    drain::SETTLE_FLOOR,
    fleet_agent::{FleetLink, Published},
    fleet_drain_set::{DrainSetLink, OwnSet, SharedDrain, SharedDrains},
    fleet_imported::ImportedFlows,
    live::{Tracked, monotonic_ns},
    model::Model,
    msg::Command,
    state::{State, Work},
};
use crate::{
    api::control::ControlError,
    cluster::{
        decide,
        model::{AdminRecord, AdminState, DrainParams, NodeName, NodeReport, Revision, now_ms},
    },
};

/// What the core knows of the fleet.
pub struct FleetSide {
    pub node: NodeName,
    /// The revision of the admin state applied, per backend: an older one
    /// (a watch delivering a change this node already applied) is skipped.
    revisions: BTreeMap<String, Revision>,
    /// Every admin state up to this revision is applied here.
    applied: Revision,
    /// This node read the whole admin state at least once since it started
    /// (until then it may send new flows to a backend the fleet drains).
    pub reconciled: bool,
    report: watch::Sender<Published>,
    /// The link to etcd, for the shutdown action's claim.
    pub link: FleetLink,
    /// Claims of shutdown actions still waiting for their turn, by backend:
    /// set to stop waiting when the drain is cancelled.
    pub claims: BTreeMap<String, Arc<AtomicBool>>,
    /// `[cluster.bgp]`: the VIPs to announce, for the BGP task.
    pub announce: Option<watch::Sender<BTreeSet<std::net::IpAddr>>>,
    /// `lb node drain`: every VIP withdrawn until `lb node enable`.
    pub node_drained: bool,
    /// The daemon is stopping.
    pub leaving: bool,
    /// When `lb node drain` withdrew the node, and when the flow table was
    /// last counted: the node's count only says something about the drain
    /// once a pass started after the router stopped sending new flows.
    pub node_drained_at: Option<std::time::Instant>,
    pub counted_at: Option<std::time::Instant>,
    /// The drain-set task's channels (`fleet_drain_set`).
    pub drain_sets: Option<DrainSetLink>,
}

/// The revision a report may claim as applied: `applied`, held below every
/// drain whose flows this node has not collected yet. Until they are
/// collected the backend's count is the last whole-table count, taken before
/// the drain (a flow opened since then is not in it), so the report must not
/// speak for that drain: the other nodes then count this node as not known
/// rather than as zero (seen in CI: a node with no flows of its own declared
/// the fleet drained while another still held two).
pub fn reportable_applied(
    applied: Revision,
    uncollected: impl IntoIterator<Item = Revision>,
) -> Revision {
    uncollected
        .into_iter()
        .map(|drain| Revision(drain.0 - 1))
        .fold(applied, Revision::min)
}

impl FleetSide {
    pub fn new(node: NodeName, report: watch::Sender<Published>, link: FleetLink) -> Self {
        Self {
            node,
            revisions: BTreeMap::new(),
            applied: Revision(0),
            reconciled: false,
            report,
            link,
            claims: BTreeMap::new(),
            announce: None,
            node_drained: false,
            leaving: false,
            node_drained_at: None,
            counted_at: None,
            drain_sets: None,
        }
    }

    /// Where this node stands, for what it may announce.
    pub fn mode(&self) -> decide::NodeMode {
        match (self.leaving, self.node_drained, self.reconciled) {
            (true, _, _) => decide::NodeMode::Leaving,
            (_, true, _) => decide::NodeMode::Draining,
            (_, _, false) => decide::NodeMode::Joining,
            _ => decide::NodeMode::Serving,
        }
    }

    /// The revision at which `backend`'s current admin state was written.
    pub fn revision_of(&self, backend: &str) -> Option<Revision> {
        self.revisions.get(backend).copied()
    }

    /// The admin state `command` on `name` should write to etcd, or None when
    /// it would change nothing (a drain of a backend already draining or
    /// drained is the same drain: one id, one shutdown action). Refused here,
    /// before anything is written, exactly as the one-box command would be.
    pub fn plan(
        &self,
        state: &State,
        name: &str,
        command: Command,
    ) -> Result<Option<AdminState>, ControlError> {
        if state.torn_down {
            return Err(ControlError::Conflict(
                "the data plane was torn down".into(),
            ));
        }
        let b = state
            .model
            .backends
            .get(name)
            .ok_or_else(|| ControlError::UnknownBackend(name.to_string()))?;
        let drain = b.drain.as_ref();
        Ok(match command {
            Command::Drain { timeout, no_signal } => {
                if b.disabled {
                    return Err(ControlError::Conflict(format!(
                        "{name} is disabled (admin DOWN): it takes no traffic; `lb enable {name}` first to drain it"
                    )));
                }
                if drain.is_some() {
                    return Ok(None);
                }
                Some(AdminState::Draining(DrainParams {
                    timeout: timeout.unwrap_or(b.cfg.drain_timeout),
                    signal: !no_signal,
                    requested_by: self.node.clone(),
                    requested_at_ms: now_ms(),
                }))
            }
            Command::Enable => Some(AdminState::Active),
            Command::Disable => Some(AdminState::Disabled),
        })
    }

    /// Takes admin states from etcd: the whole set read at revision
    /// `read_at` (a (re)connect: this node reconciles), or a few changes.
    /// Returns those to apply (`apply_admin`), in order: the ones not applied
    /// yet, of backends this node's config has.
    pub fn accept_admin(
        &mut self,
        model: &Model,
        records: Vec<AdminRecord>,
        read_at: Option<Revision>,
    ) -> Vec<AdminRecord> {
        let mut todo = Vec::new();
        for rec in records {
            if self
                .revision_of(&rec.backend)
                .is_some_and(|r| r >= rec.revision)
            {
                continue;
            }
            if !model.backends.contains_key(&rec.backend) {
                tracing::warn!(
                    backend = rec.backend,
                    "etcd holds an admin state for a backend this node's config does not have; ignored"
                );
                continue;
            }
            self.revisions.insert(rec.backend.clone(), rec.revision);
            self.applied = self.applied.max(rec.revision);
            todo.push(rec);
        }
        if let Some(at) = read_at {
            self.applied = self.applied.max(at);
            if !self.reconciled {
                tracing::info!(revision = at.0, "reconciled the admin states from etcd");
            }
            self.reconciled = true;
        }
        todo
    }

    /// Applies one admin state from etcd to `state`; returns the work it asks for.
    pub fn apply_admin(&mut self, state: &mut State, rec: &AdminRecord) -> Vec<Work> {
        let name = rec.backend.as_str();
        if let Some(cancel) = self.claims.remove(name) {
            // A claim still waiting belongs to the drain this state replaces.
            cancel.store(true, Ordering::Relaxed);
        }
        let Some(b) = state.model.backends.get(name) else {
            return Vec::new();
        };
        let (draining, disabled) = (b.drain.is_some(), b.disabled);
        let result = match &rec.state {
            AdminState::Active if draining || disabled => state.enable(name),
            AdminState::Active => Ok(Vec::new()),
            AdminState::Disabled if disabled => Ok(Vec::new()),
            AdminState::Disabled => state.disable(name),
            AdminState::Draining(p) => {
                if disabled {
                    // The fleet's word wins over this node's own: drain from
                    // admin DOWN (its flows were moved already; new ones stop).
                    let _ = state.enable(name);
                }
                state.start_drain(name, Some(p.timeout), !p.signal)
            }
        };
        tracing::info!(backend = name, revision = rec.revision.0, state = ?rec.state, "fleet admin state applied");
        result.unwrap_or_else(|e| {
            tracing::error!(backend = name, error = %e, "applying the fleet's admin state");
            Vec::new()
        })
    }

    /// Hands this node's live counts, and the drains in progress here, to
    /// the fleet agent when they changed.
    pub fn publish_report(&self, state: &State) {
        let now = monotonic_ns();
        let mut live_flows = BTreeMap::new();
        let mut unsettled = BTreeMap::new();
        let mut drains = BTreeMap::new();
        let mut uncollected = Vec::new();
        for b in state.model.backends.values() {
            let name = &b.cfg.name;
            // A followed drain's count is its recorded flows, never a
            // whole-table count that may predate them.
            let tracked = state.tracked.get(name);
            live_flows.insert(name.clone(), tracked.map_or(b.live_flows, Tracked::len));
            if b.drain.as_ref().is_some_and(|d| d.outcome.is_none()) {
                if let Some(rev) = self.revision_of(name) {
                    drains.insert(name.clone(), rev);
                    if tracked.is_none() {
                        uncollected.push(rev);
                    }
                }
                let n = tracked.map_or(b.live_flows, |t| {
                    t.unsettled(now, SETTLE_FLOOR.as_nanos() as u64)
                });
                unsettled.insert(name.clone(), n);
            }
        }
        let applied = reportable_applied(self.applied, uncollected);
        let imported: BTreeMap<String, u64> = state
            .fleet
            .as_ref()
            .map(|g| {
                g.imported
                    .iter()
                    .filter(|(b, _)| drains.contains_key(*b))
                    .map(|(b, i)| (b.clone(), i.imported))
                    .collect()
            })
            .unwrap_or_default();
        crate::metrics::counters::global().drain_flows_imported(imported.values().sum());
        if let Some(sets) = self.drain_sets.as_ref() {
            let shared = self.shared_drains(state);
            sets.drains.send_if_modified(|d| {
                let changed = *d != shared;
                *d = shared;
                changed
            });
        }
        self.report.send_if_modified(|p| {
            let r = &p.report;
            if r.live_flows == live_flows
                && r.unsettled == unsettled
                && r.imported == imported
                && r.applied == applied
                && p.drains == drains
            {
                return false;
            }
            *p = Published {
                report: NodeReport {
                    live_flows,
                    unsettled,
                    imported,
                    applied,
                    counted_at_ms: now_ms(),
                },
                drains,
            };
            true
        });
    }

    /// A draining backend's flows were collected here: they are this node's
    /// set of the drain, to publish.
    pub fn share_collected(&self, state: &State, name: &str) {
        let (Some(tracked), Some(drain), Some(sets)) = (
            state.tracked.get(name),
            self.revision_of(name),
            self.drain_sets.as_ref(),
        ) else {
            return;
        };
        let set = OwnSet {
            backend: name.to_owned(),
            drain,
            keys: tracked.keys().copied().collect(),
        };
        let own = sets.own.clone();
        // The task publishes a set only while its drain is shared: the
        // drain is shared from now on, which it learns first.
        self.publish_report(state);
        let _ = own.send(set);
    }

    /// Records another node's imported set: the core follows those flows
    /// once they show up in this node's flow table.
    pub fn imported(
        &self,
        state: &mut State,
        backend: String,
        drain: Revision,
        keys: Vec<FlowKey>,
    ) {
        if self.revision_of(&backend) != Some(drain) {
            return;
        }
        if let Some(gate) = state.fleet.as_mut() {
            gate.imported
                .entry(backend)
                .or_insert_with(|| ImportedFlows::new(drain))
                .add(keys);
        }
        self.publish_report(state);
    }

    /// The drains whose sets are shared now (see [`SharedDrain`]).
    fn shared_drains(&self, state: &State) -> SharedDrains {
        state
            .model
            .backends
            .values()
            .filter(|b| b.drain.as_ref().is_some_and(|d| d.outcome.is_none()))
            .filter(|b| state.tracked.contains_key(&b.cfg.name))
            .filter_map(|b| {
                let drain = self.revision_of(&b.cfg.name)?;
                Some((
                    b.cfg.name.clone(),
                    SharedDrain {
                        drain,
                        backend_id: b.id,
                    },
                ))
            })
            .collect()
    }
}
