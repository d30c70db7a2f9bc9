//! This node's place behind the router (docs/fleet.md): which VIPs it
//! announces through BIRD, and `lb node drain` / `lb node enable`. The core
//! decides the set (`cluster::decide::vips_to_announce`, from its own data
//! plane, on every tick); one task hands each new set to BIRD, so a slow or
//! absent BIRD never stalls the core.

use std::{
    collections::BTreeSet,
    net::IpAddr,
    time::{Duration, Instant},
};

use tokio::sync::watch;

use super::event_loop::Core;
use crate::{
    api::{
        control::{ControlError, ControlResult},
        types::NodeStatus,
    },
    cluster::{
        bgp::BirdControl,
        decide::{NodeMode, VipServing, vips_to_announce},
    },
};

/// How long after a withdrawal the router may still send a new flow (its
/// BGP session carries the withdrawal within milliseconds; measured 8-43 ms).
const ROUTER_CONVERGES: Duration = Duration::from_secs(1);
/// Time between attempts while BIRD refuses or is unreachable.
const RETRY: Duration = Duration::from_secs(1);

use crate::api::control::NodeAction;

impl Core {
    /// The VIPs this node may announce now, handed to the BGP task if they
    /// changed.
    pub(super) fn fleet_announce(&mut self) {
        let Some(fleet) = self.fleet.as_ref() else {
            return;
        };
        let Some(announce) = fleet.announce.as_ref() else {
            return;
        };
        let attached = self.state.dataplane.is_some() && !self.state.torn_down;
        let model = &self.state.model;
        let vips: Vec<VipServing> = model
            .vips
            .iter()
            .map(|v| VipServing {
                address: v.cfg.address,
                usable_backends: model
                    .backends
                    .values()
                    .filter(|b| b.vip_id == v.id)
                    .filter(|b| b.kernel_state() == lb_common::backend::STATE_ACTIVE)
                    .count(),
            })
            .collect();
        let set = vips_to_announce(attached, fleet.mode(), &vips);
        announce.send_if_modified(|current| {
            if *current == set {
                return false;
            }
            tracing::info!(vips = ?set, "VIPs to announce");
            *current = set;
            true
        });
    }

    /// `lb node drain`, `lb node enable`, `lb node` (show).
    pub(super) fn node_command(&mut self, action: NodeAction) -> ControlResult<NodeStatus> {
        let fleet = self.fleet.as_mut().ok_or_else(|| {
            ControlError::Conflict("this daemon runs without [cluster]: it is no fleet node".into())
        })?;
        if fleet.announce.is_none() && action != NodeAction::Show {
            return Err(ControlError::Conflict(
                "this node has no [cluster.bgp]: it announces nothing, so there is nothing to withdraw".into(),
            ));
        }
        match action {
            NodeAction::Show => {}
            NodeAction::Drain => {
                tracing::info!("node drain: withdrawing every VIP");
                if !fleet.node_drained {
                    fleet.node_drained_at = Some(Instant::now());
                }
                fleet.node_drained = true;
            }
            NodeAction::Enable => {
                tracing::info!("node enable: announcing again");
                fleet.node_drained = false;
                fleet.node_drained_at = None;
            }
        }
        self.fleet_announce();
        Ok(self.node_status())
    }

    fn node_status(&self) -> NodeStatus {
        let fleet = self.fleet.as_ref();
        let mode = fleet.map_or(NodeMode::Serving, super::fleet_core::FleetSide::mode);
        let announced = fleet
            .and_then(|f| f.announce.as_ref())
            .map(|a| a.borrow().iter().map(ToString::to_string).collect())
            .unwrap_or_default();
        NodeStatus {
            node: fleet.map(|f| f.node.to_string()).unwrap_or_default(),
            mode: format!("{mode:?}").to_lowercase(),
            announced,
            live_flows: self
                .state
                .model
                .backends
                .values()
                .map(|b| b.live_flows)
                .sum(),
            counted_since_drain: fleet.is_some_and(|f| match (f.node_drained_at, f.counted_at) {
                (Some(drained), Some(counted)) => counted >= drained + ROUTER_CONVERGES,
                _ => false,
            }),
        }
    }

    /// A whole-table count just arrived.
    pub(super) fn fleet_counted(&mut self) {
        if let Some(f) = self.fleet.as_mut() {
            f.counted_at = Some(Instant::now());
        }
        self.fleet_report();
    }

    /// Shutting down: announce nothing more (the BGP task withdraws).
    pub(super) fn fleet_leave(&mut self) {
        if let Some(f) = self.fleet.as_mut() {
            f.leaving = true;
        }
        self.fleet_announce();
    }
}

/// Hands each set of VIPs to BIRD, retrying until BIRD takes it. Starts by
/// announcing nothing (a previous run's routes go until this node has
/// reconciled); when the core is gone, applies its last set (empty: it left)
/// and ends.
pub async fn run_bgp(
    control: BirdControl,
    mut sets: watch::Receiver<BTreeSet<IpAddr>>,
) -> anyhow::Result<()> {
    let mut applied: Option<BTreeSet<IpAddr>> = None;
    loop {
        let want = sets.borrow_and_update().clone();
        if applied.as_ref() != Some(&want) {
            match control.set_announced(&want).await {
                Ok(()) => {
                    tracing::info!(vips = ?want, "BIRD announces");
                    applied = Some(want);
                }
                Err(e) => {
                    tracing::error!(error = %e, "BIRD did not take the VIPs to announce; retrying");
                    tokio::time::sleep(RETRY).await;
                    continue;
                }
            }
        }
        if sets.changed().await.is_err() {
            let last = sets.borrow().clone();
            if applied.as_ref() != Some(&last) {
                control.set_announced(&last).await?;
                tracing::info!(vips = ?last, "BIRD announces (daemon stopping)");
            }
            return Ok(());
        }
    }
}
