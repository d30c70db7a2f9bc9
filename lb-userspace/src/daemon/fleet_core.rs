//! The core loop's side of the fleet (docs/fleet.md): admin states from etcd
//! applied to this node's state, the admin state a command should write, and
//! the node's report of its live counts. The core owns all of it; the fleet
//! agent (`fleet_agent`) only carries it to and from etcd.

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use tokio::sync::watch;

use super::{
    drain::SETTLE_FLOOR, event_loop::Core, fleet_agent::FleetLink, live::monotonic_ns,
    model::BackendEntry, state::Work,
};
use crate::{
    api::control::ControlError,
    cluster::{
        decide::{self, FleetCount},
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
    pub drain_sets: Option<super::fleet_drain_set::DrainSetLink>,
}

/// What the core hands the fleet agent.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Published {
    pub report: NodeReport,
    /// Drains in progress here, by the revision that started them: the
    /// agent follows their fleet-wide counts.
    pub drains: BTreeMap<String, Revision>,
}

/// One drain as the rest of the fleet stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FleetDrainView {
    /// Every live node's count (None: not reported since it applied the drain).
    pub count: FleetCount,
    /// Flows on the other live nodes; a node whose count is not known counts as one.
    pub others: u64,
    /// The other nodes' flows not settled yet (an unknown node counts as one).
    pub others_unsettled: u64,
}

/// The other nodes' side of this node's drains, as the agent last read it.
#[derive(Clone, Debug, Default)]
pub struct FleetGate {
    pub drains: BTreeMap<String, FleetDrainView>,
    /// Connections imported from other nodes' drain sets, by backend.
    pub imported: BTreeMap<String, super::fleet_imported::ImportedFlows>,
}

impl FleetGate {
    /// The fleet-wide count of `backend`'s drain given this node's `local`
    /// count, and whether the other nodes' flows are settled. Nothing heard
    /// yet holds the drain open (counts as one flow elsewhere).
    pub fn with_others(&self, backend: &str, local: u64) -> (u64, bool) {
        match self.drains.get(backend) {
            Some(v) => (local + v.others, v.others_unsettled == 0),
            None => (local + 1, false),
        }
    }
}

/// After a fleet drain's step: the backend's figures are this node's own
/// (the fleet-wide count went into the decision, not into its counts).
pub fn local_figures(b: &mut BackendEntry, local: u64) {
    b.live_flows = b.live_flows.min(local);
    if let Some(d) = b.drain.as_mut() {
        d.forced_flows = d.forced_flows.min(local);
        d.flows_at_exit = d.flows_at_exit.min(local);
    }
}

/// The other nodes' part of `backend`'s drain written at `drain`, from one
/// read of etcd: `me` is left out.
pub fn drain_view(
    backend: &str,
    drain: Revision,
    me: &NodeName,
    live: &BTreeSet<NodeName>,
    reports: &BTreeMap<NodeName, NodeReport>,
) -> FleetDrainView {
    let count = decide::fleet_count(backend, drain, live, reports);
    let mut others = 0;
    let mut others_unsettled = 0;
    for (node, c) in count.per_node.iter().filter(|(n, _)| *n != me) {
        others += c.unwrap_or(1);
        others_unsettled += match (c, reports.get(node)) {
            (Some(_), Some(r)) => r.unsettled.get(backend).copied().unwrap_or(0),
            _ => 1,
        };
    }
    FleetDrainView {
        count,
        others,
        others_unsettled,
    }
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
}

/// A fleet-wide admin command, as the API took it.
#[derive(Clone, Copy)]
pub enum Command {
    Drain {
        timeout: Option<Duration>,
        no_signal: bool,
    },
    Enable,
    Disable,
}

impl Core {
    /// The admin state `command` on `name` should write to etcd, or None when
    /// it would change nothing (a drain of a backend already draining or
    /// drained is the same drain: one id, one shutdown action). Refused here,
    /// before anything is written, exactly as the one-box command would be.
    pub(super) fn fleet_plan(
        &self,
        name: &str,
        command: Command,
    ) -> Result<Option<AdminState>, ControlError> {
        let fleet = self
            .fleet
            .as_ref()
            .ok_or_else(|| ControlError::Internal("this daemon has no [cluster] section".into()))?;
        if self.state.torn_down {
            return Err(ControlError::Conflict(
                "the data plane was torn down".into(),
            ));
        }
        let b = self
            .state
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
                    requested_by: fleet.node.clone(),
                    requested_at_ms: now_ms(),
                }))
            }
            Command::Enable => Some(AdminState::Active),
            Command::Disable => Some(AdminState::Disabled),
        })
    }

    /// Applies admin states from etcd: the whole set read at revision
    /// `read_at` (a (re)connect: this node reconciles), or a few changes.
    pub(super) fn fleet_admin(&mut self, records: Vec<AdminRecord>, read_at: Option<Revision>) {
        let Some(fleet) = self.fleet.as_mut() else {
            return;
        };
        let mut todo = Vec::new();
        for rec in records {
            if fleet
                .revision_of(&rec.backend)
                .is_some_and(|r| r >= rec.revision)
            {
                continue;
            }
            if !self.state.model.backends.contains_key(&rec.backend) {
                tracing::warn!(
                    backend = rec.backend,
                    "etcd holds an admin state for a backend this node's config does not have; ignored"
                );
                continue;
            }
            fleet.revisions.insert(rec.backend.clone(), rec.revision);
            fleet.applied = fleet.applied.max(rec.revision);
            todo.push(rec);
        }
        if let Some(at) = read_at {
            fleet.applied = fleet.applied.max(at);
            if !fleet.reconciled {
                tracing::info!(revision = at.0, "reconciled the admin states from etcd");
            }
            fleet.reconciled = true;
        }
        for rec in todo {
            let work = self.apply_admin(&rec);
            self.start(work);
        }
        self.fleet_report();
        self.fleet_announce();
    }

    fn apply_admin(&mut self, rec: &AdminRecord) -> Vec<Work> {
        let name = rec.backend.as_str();
        if let Some(cancel) = self.fleet.as_mut().and_then(|f| f.claims.remove(name)) {
            // A claim still waiting belongs to the drain this state replaces.
            cancel.store(true, Ordering::Relaxed);
        }
        let Some(b) = self.state.model.backends.get(name) else {
            return Vec::new();
        };
        let (draining, disabled) = (b.drain.is_some(), b.disabled);
        let result = match &rec.state {
            AdminState::Active if draining || disabled => self.state.enable(name),
            AdminState::Active => Ok(Vec::new()),
            AdminState::Disabled if disabled => Ok(Vec::new()),
            AdminState::Disabled => self.state.disable(name),
            AdminState::Draining(p) => {
                if disabled {
                    // The fleet's word wins over this node's own: drain from
                    // admin DOWN (its flows were moved already; new ones stop).
                    let _ = self.state.enable(name);
                }
                self.state.start_drain(name, Some(p.timeout), !p.signal)
            }
        };
        tracing::info!(backend = name, revision = rec.revision.0, state = ?rec.state, "fleet admin state applied");
        result.unwrap_or_else(|e| {
            tracing::error!(backend = name, error = %e, "applying the fleet's admin state");
            Vec::new()
        })
    }

    /// The agent's latest read of the fleet's side of this node's drains.
    pub(super) fn fleet_counts(&mut self, drains: BTreeMap<String, FleetDrainView>) {
        if let Some(gate) = self.state.fleet.as_mut() {
            gate.drains = drains;
        }
    }

    /// Hands this node's live counts, and the drains in progress here, to
    /// the fleet agent when they changed.
    pub(super) fn fleet_report(&mut self) {
        let Some(fleet) = self.fleet.as_ref() else {
            return;
        };
        let now = monotonic_ns();
        let mut live_flows = BTreeMap::new();
        let mut unsettled = BTreeMap::new();
        let mut drains = BTreeMap::new();
        let mut uncollected = Vec::new();
        for b in self.state.model.backends.values() {
            let name = &b.cfg.name;
            // A followed drain's count is its recorded flows, never a
            // whole-table count that may predate them.
            let tracked = self.state.tracked.get(name);
            live_flows.insert(
                name.clone(),
                tracked.map_or(b.live_flows, super::live::Tracked::len),
            );
            if b.drain.as_ref().is_some_and(|d| d.outcome.is_none()) {
                if let Some(rev) = fleet.revision_of(name) {
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
        let applied = reportable_applied(fleet.applied, uncollected);
        let imported: BTreeMap<String, u64> = self
            .state
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
        if let Some(sets) = fleet.drain_sets.as_ref() {
            let shared = self.shared_drains();
            sets.drains.send_if_modified(|d| {
                let changed = *d != shared;
                *d = shared;
                changed
            });
        }
        fleet.report.send_if_modified(|p| {
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
}
