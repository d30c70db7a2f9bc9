//! Part 6: the fleet (docs/fleet.md). Three LB nodes behind the lab's router
//! (BIRD, ECMP), etcd, real backends: how far apart the nodes flip after
//! `lb drain`, how soon every node says DRAINED after the fleet-wide last
//! close, and how many requests etcd serves per drain (etcd's own
//! `/metrics`, read inside the lab).

pub mod drain_set;
mod measure;
mod render;

use serde::{Deserialize, Serialize};

pub use self::{measure::run, render::render};
use crate::{report::RunInfo, stats::Summary};

/// Drains whose flip spread is measured (the issue asks for 20).
pub const FLIP_ROUNDS: usize = 20;
/// Drains with long streams on the backend, for the last-close figures.
pub const CLOSE_ROUNDS: usize = 5;
/// LB nodes in the lab.
pub const NODES: usize = 3;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Report {
    pub run: RunInfo,
    pub nodes: u32,
    pub flip: Flip,
    pub last_close: LastClose,
    pub etcd: EtcdRequests,
    /// The shared drain set's cost at 10k and 100k flows per node.
    pub drain_set: drain_set::DrainSetReport,
}

/// `lb drain web-2 --no-signal` on node (round mod 3), nothing in flight:
/// the spread of the nodes' drain start times (`drain.started_at`, the
/// moment each node took web-2 out of its table).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Flip {
    pub rounds: u32,
    /// Spread of one drain's flips across the nodes, ms.
    pub spread_ms: Summary,
    /// From the command's start (the CLI's clock) to the last node's flip, ms.
    pub command_to_last_flip_ms: Summary,
}

/// Streams through the router, some on web-2 on several nodes, then
/// `lb drain web-2 --no-signal`: from the fleet-wide last close of web-2's
/// streams (the client's clock: request start + duration) to DRAINED on the
/// first and on the last node.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LastClose {
    pub rounds: u32,
    pub streams: u32,
    pub stream_seconds: f64,
    pub first_node_ms: Summary,
    pub last_node_ms: Summary,
}

/// etcd's gRPC requests over one drain of [`LastClose`] (command to DRAINED
/// on every node), and the fleet's idle rate for comparison.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EtcdRequests {
    /// Where the figures come from.
    pub source: String,
    /// Unary requests (Range, Txn, Put, LeaseGrant, ...) per drain.
    pub unary_per_drain: Summary,
    /// Messages received on streams (lease keepalives, watch requests) per drain.
    pub stream_messages_per_drain: Summary,
    /// How long a drain took, command to DRAINED on every node, s.
    pub drain_seconds: Summary,
    /// The three idle nodes' unary requests per second (no drain running).
    pub idle_unary_per_s: f64,
    pub idle_stream_messages_per_s: f64,
    /// Unary requests per drain by gRPC method (median over the rounds).
    pub unary_by_method: Vec<MethodCount>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MethodCount {
    pub method: String,
    pub per_drain: f64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        Part,
        keys::assert_documented,
        report::{Md, Results, sample_run},
    };

    #[test]
    fn every_key_is_documented_and_the_section_renders() {
        let s = Summary {
            median: 2.0,
            min: 1.0,
            max: 3.0,
        };
        let r = Report {
            run: sample_run(),
            nodes: 3,
            flip: Flip {
                rounds: 20,
                spread_ms: s,
                command_to_last_flip_ms: s,
            },
            last_close: LastClose {
                rounds: 5,
                streams: 12,
                stream_seconds: 3.0,
                first_node_ms: s,
                last_node_ms: s,
            },
            etcd: EtcdRequests {
                source: "test".into(),
                unary_per_drain: s,
                stream_messages_per_drain: s,
                drain_seconds: s,
                idle_unary_per_s: 1.5,
                idle_stream_messages_per_s: 2.5,
                unary_by_method: vec![MethodCount {
                    method: "Range".into(),
                    per_drain: 30.0,
                }],
            },
            drain_set: drain_set::DrainSetReport { cases: Vec::new() },
        };
        let v = serde_json::to_value(&r).unwrap();
        assert_documented("fleet", &v, Part::Fleet.keys());
        let mut results = Results::load(std::path::Path::new("/nonexistent"));
        results.set(Part::Fleet, v);
        let mut md = Md(String::new());
        assert!(render(&results, &mut md));
        assert!(md.0.contains("Range 30.0"), "{}", md.0);
    }
}
