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

use super::{fleet_core::FleetSide, state::State};
use crate::{
    api::{
        control::{ControlError, ControlResult, NodeAction},
        types::NodeStatus,
    },
    cluster::{
        bgp::BirdControl,
        decide::{VipServing, vips_to_announce},
    },
};

/// How long after a withdrawal the router may still send a new flow (its
/// BGP session carries the withdrawal within milliseconds; measured 8-43 ms).
const ROUTER_CONVERGES: Duration = Duration::from_secs(1);
/// Time between attempts while BIRD refuses or is unreachable.
const RETRY: Duration = Duration::from_secs(1);

impl FleetSide {
    /// The VIPs this node may announce now (from `state`'s data plane),
    /// handed to the BGP task if they changed.
    pub fn announce(&self, state: &State) {
        let Some(announce) = self.announce.as_ref() else {
            return;
        };
        let attached = state.dataplane.is_some() && !state.torn_down;
        let model = &state.model;
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
        let set = vips_to_announce(attached, self.mode(), &vips);
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
    pub fn node_command(&mut self, state: &State, action: NodeAction) -> ControlResult<NodeStatus> {
        if self.announce.is_none() && action != NodeAction::Show {
            return Err(ControlError::Conflict(
                "this node has no [cluster.bgp]: it announces nothing, so there is nothing to withdraw".into(),
            ));
        }
        match action {
            NodeAction::Show => {}
            NodeAction::Drain => {
                tracing::info!("node drain: withdrawing every VIP");
                if !self.node_drained {
                    self.node_drained_at = Some(Instant::now());
                }
                self.node_drained = true;
            }
            NodeAction::Enable => {
                tracing::info!("node enable: announcing again");
                self.node_drained = false;
                self.node_drained_at = None;
            }
        }
        self.announce(state);
        Ok(self.node_status(state))
    }

    fn node_status(&self, state: &State) -> NodeStatus {
        let announced = self
            .announce
            .as_ref()
            .map(|a| a.borrow().iter().map(ToString::to_string).collect())
            .unwrap_or_default();
        NodeStatus {
            node: self.node.to_string(),
            mode: format!("{:?}", self.mode()).to_lowercase(),
            announced,
            live_flows: state.model.backends.values().map(|b| b.live_flows).sum(),
            counted_since_drain: match (self.node_drained_at, self.counted_at) {
                (Some(drained), Some(counted)) => counted >= drained + ROUTER_CONVERGES,
                _ => false,
            },
        }
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
