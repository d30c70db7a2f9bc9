//! Live-connection accounting.
//!
//! A flow is live until it closes or until it has been idle longer than its
//! protocol's idle timeout. What "closes" means depends on what the balancer
//! sees ([`is_closed`]): with DSR only the client's side, so its FIN or RST;
//! with NAT both, so the server's FIN or either side's RST. Two ways of
//! counting:
//!
//! - `count_by_backend`: one pass over the whole flow table, for every
//!   backend's figure in `lb status` and the metrics. Its cost grows with the
//!   table, so the daemon runs it every few seconds, not every tick.
//! - `Tracked`: a draining backend's own flows, collected by one pass when the
//!   drain starts and then checked by key, every tick, at a cost that grows only
//!   with that backend's flows (which can only fall: it gets no new ones). A
//!   tracked flow whose entry was evicted stays live until its idle timeout
//!   passes from the last time it was seen, because the second-chance path may
//!   bring it back; eviction does not end a connection.

use std::collections::{BTreeMap, HashMap};

use aya::maps::{HashMap as BpfHashMap, MapData};
use lb_common::{
    flow::{FLOW_F_NAT, FLOW_F_RST, FLOW_F_SERVER_FIN, FLOW_F_SERVER_RST, FlowInfo, FlowKey},
    vip::PROTO_UDP,
};

use crate::dataplane::flows::FlowTables;

pub type FlowMap = FlowTables;
pub type DrainFlowMap = BpfHashMap<MapData, FlowKey, u32>;

/// Idle timeouts in nanoseconds.
#[derive(Clone, Copy, Debug)]
pub struct IdleTimeouts {
    pub tcp_ns: u64,
    pub udp_ns: u64,
}

/// CLOCK_MONOTONIC, the clock of the flow entries' times (which the program
/// reads to the tick, so they trail this by at most a few ms).
pub fn monotonic_ns() -> u64 {
    let ts = nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC)
        .expect("CLOCK_MONOTONIC is always available");
    std::time::Duration::from(ts).as_nanos() as u64
}

/// Whether the flow's connection is over as far as the balancer can tell.
///
/// DSR: the client sent FIN or RST (the server's packets never cross the
/// balancer). NAT: the server sent FIN (it has answered everything it will
/// answer: what the client may still send is met with a reset), or either
/// side sent RST. A client's FIN alone does not end a NAT flow: a client that
/// half-closes after its request still has the answer in flight. A server
/// that closes idle keep-alive connections on shutdown ends them at once,
/// where DSR waits for each client's FIN or the idle timeout.
pub fn is_closed(info: &FlowInfo) -> bool {
    if info.flags & FLOW_F_NAT == 0 {
        return info.is_closing();
    }
    info.flags & (FLOW_F_SERVER_FIN | FLOW_F_SERVER_RST | FLOW_F_RST) != 0
}

/// Whether a flow still counts as a connection in flight at `now`.
pub fn is_live(key: &FlowKey, info: &FlowInfo, now: u64, idle: IdleTimeouts) -> bool {
    if is_closed(info) {
        return false;
    }
    let timeout = if key.proto == PROTO_UDP {
        idle.udp_ns
    } else {
        idle.tcp_ns
    };
    now.saturating_sub(info.last_seen_ns) <= timeout
}

/// Live flows per backend id, and how many entries the pass read.
pub fn count_by_backend(
    flows: &FlowMap,
    now: u64,
    idle: IdleTimeouts,
) -> (BTreeMap<u32, u64>, u64) {
    let mut counts = BTreeMap::new();
    let scanned = scan(flows, |key, info| {
        if is_live(key, info, now, idle) {
            *counts.entry(info.backend_id).or_insert(0) += 1;
        }
    });
    (counts, scanned)
}

/// Every entry of the table, in batches; entry by entry where the kernel has
/// no batch lookup.
pub fn scan(flows: &FlowMap, mut f: impl FnMut(&FlowKey, &FlowInfo)) -> u64 {
    match flows.for_each(&mut f) {
        Ok(n) => n,
        Err(e) => {
            tracing::debug!(error = %e, "batch lookup unavailable; reading entry by entry");
            let mut n = 0;
            for (key, info) in flows.iter().flatten() {
                f(&key, &info);
                n += 1;
            }
            n
        }
    }
}

/// A draining backend's flows, followed by key.
#[derive(Debug, Default)]
pub struct Tracked {
    backend_id: u32,
    flows: HashMap<FlowKey, FlowInfo>,
}

impl Tracked {
    /// Collects `backend_id`'s live flows with one pass over the flow table,
    /// plus those `DRAIN_FLOWS` already records whose entries were evicted (a
    /// drain resumed after a restart): they count as live until they idle out.
    pub fn collect(
        flows: &FlowMap,
        drain_flows: &DrainFlowMap,
        backend_id: u32,
        now: u64,
        idle: IdleTimeouts,
    ) -> Self {
        let mut tracked = Self {
            backend_id,
            flows: HashMap::new(),
        };
        scan(flows, |key, info| {
            if info.backend_id == backend_id && is_live(key, info, now, idle) {
                tracked.flows.insert(*key, *info);
            }
        });
        for (key, id) in drain_flows.iter().flatten() {
            if id == backend_id && !tracked.flows.contains_key(&key) {
                let unknown = FlowInfo {
                    backend_id,
                    flags: lb_common::flow::FLOW_F_PAYLOAD,
                    created_ns: 0,
                    last_seen_ns: now,
                    ..FlowInfo::default()
                };
                tracked.flows.insert(key, unknown);
            }
        }
        tracked
    }

    /// Re-reads every followed flow and drops the ones that ended; returns them.
    pub fn refresh(&mut self, flows: &FlowMap, now: u64, idle: IdleTimeouts) -> Vec<FlowKey> {
        let backend_id = self.backend_id;
        let mut ended = Vec::new();
        self.flows.retain(|key, known| {
            let live = match flows.get(key, 0) {
                Ok(info) if info.backend_id == backend_id => {
                    *known = info;
                    is_live(key, known, now, idle)
                }
                // Re-picked to another backend: no longer this backend's connection.
                Ok(_) => false,
                // Evicted: the last known state stands until it idles out (the
                // second chance recreates the entry on the flow's next packet).
                Err(_) => is_live(key, known, now, idle),
            };
            if !live {
                ended.push(*key);
            }
            live
        });
        ended
    }

    /// `refresh` without a flow table (a daemon run without a data plane):
    /// every flow is as if evicted, live until it idles out.
    pub fn refresh_unseen(&mut self, now: u64, idle: IdleTimeouts) -> Vec<FlowKey> {
        let mut ended = Vec::new();
        self.flows.retain(|key, known| {
            let live = is_live(key, known, now, idle);
            if !live {
                ended.push(*key);
            }
            live
        });
        ended
    }

    pub fn len(&self) -> u64 {
        self.flows.len() as u64
    }

    pub fn is_empty(&self) -> bool {
        self.flows.is_empty()
    }

    /// True when every followed flow has sent payload (its first request) and
    /// was created at least `settle_ns` ago: the flow table's evidence that the
    /// backend has every connection in hand.
    /// How many flows are not settled yet (see [`Self::all_settled`]).
    pub fn unsettled(&self, now: u64, settle_ns: u64) -> u64 {
        let settled = |f: &&lb_common::flow::FlowInfo| {
            f.flags & lb_common::flow::FLOW_F_PAYLOAD != 0
                && now.saturating_sub(f.created_ns) >= settle_ns
        };
        self.flows.values().filter(|f| !settled(f)).count() as u64
    }

    pub fn all_settled(&self, now: u64, settle_ns: u64) -> bool {
        self.flows.values().all(|f| {
            f.flags & lb_common::flow::FLOW_F_PAYLOAD != 0
                && now.saturating_sub(f.created_ns) >= settle_ns
        })
    }

    /// A tracked set from given flows (tests, and a core without a data plane).
    pub fn from_flows(
        backend_id: u32,
        flows: impl IntoIterator<Item = (FlowKey, FlowInfo)>,
    ) -> Self {
        Self {
            backend_id,
            flows: flows.into_iter().collect(),
        }
    }

    pub fn backend_id(&self) -> u32 {
        self.backend_id
    }

    /// Follows a connection from now on (one imported from another node's
    /// drain set that showed up here); one already followed stays as it is.
    pub fn adopt(&mut self, key: FlowKey, info: FlowInfo) {
        self.flows.entry(key).or_insert(info);
    }

    /// The followed flows' keys (to force them off at the deadline).
    pub fn keys(&self) -> impl Iterator<Item = &FlowKey> {
        self.flows.keys()
    }
}

#[cfg(test)]
mod tests {
    use lb_common::flow::{FLOW_F_FIN, FLOW_F_PAYLOAD};

    use super::*;

    const IDLE: IdleTimeouts = IdleTimeouts {
        tcp_ns: 1_000,
        udp_ns: 100,
    };

    fn tcp() -> FlowKey {
        FlowKey {
            proto: lb_common::vip::PROTO_TCP,
            ..FlowKey::default()
        }
    }

    fn live_with(flags: u32) -> bool {
        let info = FlowInfo {
            flags,
            ..FlowInfo::default()
        };
        is_live(&tcp(), &info, 500, IDLE)
    }

    #[test]
    fn a_nat_flow_ends_with_the_servers_fin_or_either_rst() {
        let nat = FLOW_F_NAT | FLOW_F_PAYLOAD;
        assert!(live_with(nat));
        // The client half-closed: the answer may still be on its way.
        assert!(live_with(nat | FLOW_F_FIN));
        // The server closed (e.g. an idle keep-alive connection at shutdown).
        assert!(!live_with(nat | FLOW_F_SERVER_FIN));
        assert!(!live_with(nat | FLOW_F_SERVER_RST));
        assert!(!live_with(nat | FLOW_F_RST));
        assert!(!live_with(nat | FLOW_F_FIN | FLOW_F_SERVER_FIN));
        // Idle past the timeout, whatever the flags.
        let info = FlowInfo {
            flags: nat,
            ..FlowInfo::default()
        };
        assert!(!is_live(&tcp(), &info, 1_001, IDLE));
    }

    #[test]
    fn a_dsr_flow_ends_with_the_clients_fin_or_rst_only() {
        assert!(live_with(FLOW_F_PAYLOAD));
        assert!(!live_with(FLOW_F_FIN));
        assert!(!live_with(FLOW_F_RST));
        // Server bits never appear without FLOW_F_NAT; if they did, DSR ignores them.
        assert!(live_with(FLOW_F_SERVER_FIN));
    }
}
