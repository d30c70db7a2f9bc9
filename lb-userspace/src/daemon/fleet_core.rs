//! The core loop's side of the fleet (docs/fleet.md): admin states from etcd
//! applied to this node's state, the admin state a command should write, and
//! the node's report of its live counts. The core owns all of it; the fleet
//! agent (`fleet_agent`) only carries it to and from etcd.

use std::collections::BTreeMap;
use std::time::Duration;

use tokio::sync::watch;

use super::{event_loop::Core, state::Work};
use crate::{
    api::{control::ControlError, types::DrainOutcome},
    cluster::model::{
        AdminRecord, AdminState, DrainParams, NodeName, NodeReport, Revision, now_ms,
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
    report: watch::Sender<NodeReport>,
}

impl FleetSide {
    pub fn new(node: NodeName, report: watch::Sender<NodeReport>) -> Self {
        Self {
            node,
            revisions: BTreeMap::new(),
            applied: Revision(0),
            reconciled: false,
            report,
        }
    }

    /// The revision at which `backend`'s current admin state was written.
    pub fn revision_of(&self, backend: &str) -> Option<Revision> {
        self.revisions.get(backend).copied()
    }
}

/// A fleet-wide admin command, as the API took it.
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
        let drain = b
            .drain
            .as_ref()
            .filter(|d| d.outcome != Some(DrainOutcome::Cancelled));
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
    }

    fn apply_admin(&mut self, rec: &AdminRecord) -> Vec<Work> {
        let name = rec.backend.as_str();
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

    /// Hands this node's live counts to the fleet agent when they changed.
    pub(super) fn fleet_report(&mut self) {
        let Some(fleet) = self.fleet.as_ref() else {
            return;
        };
        let live_flows: BTreeMap<String, u64> = self
            .state
            .model
            .backends
            .values()
            .map(|b| (b.cfg.name.clone(), b.live_flows))
            .collect();
        let applied = fleet.applied;
        fleet.report.send_if_modified(|r| {
            if r.live_flows == live_flows && r.applied == applied {
                return false;
            }
            *r = NodeReport {
                live_flows,
                applied,
                counted_at_ms: now_ms(),
            };
            true
        });
    }
}
