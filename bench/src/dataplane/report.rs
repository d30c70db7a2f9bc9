//! Part 1's figures, their JSON keys, the tables that document cases and ratios, and the plot.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use super::figure::{Figure, Program, Ratio};
use crate::{
    plot::{self, Bar},
    report::RunInfo,
    stats::Summary,
    xdp::ProgSize,
};

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Report {
    pub run: RunInfo,
    pub method: Method,
    /// The three headline ratios (medians of per-round ratios).
    pub established_vs_floor_flow: f64,
    pub nonvip_vs_floor: f64,
    pub new_flow_vs_floor_flow: f64,
    /// ns per packet by the test-run time, per case.
    pub ns: BTreeMap<Figure, Summary>,
    /// Per-call cases: the median call of each round, over rounds.
    #[serde(default)]
    pub p50_ns: BTreeMap<Figure, Summary>,
    /// Per-call cases: calls slower than 5 µs (batches of LRU work, interrupts).
    #[serde(default)]
    pub slow_calls: BTreeMap<Figure, SlowCalls>,
    pub ratios: BTreeMap<Ratio, Summary>,
    /// ns per packet by the kernel's run-time statistics, per case.
    pub stats_ns: BTreeMap<Figure, Summary>,
    pub stats_ratios: BTreeMap<Ratio, Summary>,
    pub targets: BTreeMap<Ratio, Target>,
    pub profile: BTreeMap<Program, ProgSize>,
    pub table: TableState,
    /// NAT forwarding's cases (nat_cases.rs); None in reports made before them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nat: Option<super::nat_report::NatReport>,
    /// PNG files under docs/bench.
    #[serde(default)]
    pub plots: Vec<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SlowCalls {
    /// Share of the calls over 5 µs (median over rounds).
    pub share: f64,
    /// Their mean, µs (median over rounds).
    pub mean_us: f64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Method {
    pub repeat: u32,
    pub calls: u32,
    pub rounds: u32,
    pub stats_rounds: u32,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Target {
    pub max: f64,
    pub measured: f64,
    pub stats: f64,
    pub met: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TableState {
    pub max_flows: u32,
    /// Entries in lb's FLOWS during the non-full cases.
    pub present: u64,
    /// Entries in lb's FLOWS when the full-table cases started and ended.
    pub full_before: u64,
    pub full_after: u64,
    /// Entries each CPU's list holds in the per-CPU LRU table.
    pub pcpu_share: u32,
    /// The CPU the timing ran on.
    pub cpu: usize,
}

/// The bar chart of the main cases.
pub fn plot(r: &Report, dir: &std::path::Path) -> Option<String> {
    use Figure as F;
    let pick = [
        (F::Floor, 0),
        (F::Nonvip, 1),
        (F::NonvipPort, 1),
        (F::FloorFlow, 0),
        (F::FloorFlow4, 0),
        (F::FloorFlowPcpu, 2),
        (F::Established, 1),
        (F::Udp, 1),
        (F::Ipv6, 1),
        (F::Vlan, 1),
        (F::FloorFlowInsertNet, 0),
        (F::FloorFlowPcpuInsertNet, 2),
        (F::NewFlowNet, 1),
        (F::ConfirmNet, 1),
        (F::FloorFlowInsertFullNet, 0),
        (F::FloorFlowPcpuInsertFullNet, 2),
        (F::NewFlowFullNet, 1),
        (F::ConfirmFullNet, 1),
        (F::ConnectionFullNet, 1),
    ];
    let bars: Vec<Bar> = pick
        .iter()
        .filter_map(|&(c, color)| {
            let s = r.ns.get(&c)?;
            Some(Bar {
                label: c.to_string(),
                value: s.median,
                lo: s.min,
                hi: s.max,
                color,
            })
        })
        .collect();
    plot::make(dir, "dataplane.png", |path| {
        plot::hbars(
            path,
            "ns per packet (blue: references, orange: lb, green: per-CPU LRU)",
            "ns per packet (test-run time; per-call cases net of the call overhead)",
            &bars,
        )
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::{super::render::render, *};
    use crate::{
        keys::assert_documented,
        report::{Md, sample_run},
    };

    /// A fixture: a made-up part 1 report (not a measurement).
    pub(crate) fn sample() -> Report {
        let s = Summary {
            median: 2.0,
            min: 1.0,
            max: 3.0,
        };
        let size = ProgSize {
            xlated_insns: 1,
            jited_bytes: 2,
            verified_insns: 3,
        };
        let target = Target {
            max: 1.2,
            measured: 1.5,
            stats: 1.4,
            met: false,
        };
        Report {
            run: sample_run(),
            method: Method {
                repeat: 2,
                calls: 1,
                rounds: 5,
                stats_rounds: 5,
            },
            established_vs_floor_flow: 1.5,
            nonvip_vs_floor: 1.1,
            new_flow_vs_floor_flow: 9.0,
            ns: [(Figure::Floor, s), (Figure::Established, s)].into(),
            p50_ns: [(Figure::NewFlow, s)].into(),
            slow_calls: [(
                Figure::NewFlow,
                SlowCalls {
                    share: 0.01,
                    mean_us: 10.0,
                },
            )]
            .into(),
            ratios: [(Ratio::EstablishedVsFloorFlow, s)].into(),
            stats_ns: [(Figure::Floor, s)].into(),
            stats_ratios: [(Ratio::EstablishedVsFloorFlow, s)].into(),
            targets: [(Ratio::EstablishedVsFloorFlow, target)].into(),
            profile: [(Program::Lb, size)].into(),
            table: TableState {
                max_flows: 4,
                present: 3,
                full_before: 4,
                full_after: 4,
                pcpu_share: 2,
                cpu: 1,
            },
            nat: None,
            plots: vec!["dataplane.png".into()],
        }
    }

    #[test]
    fn every_key_is_documented_and_the_section_renders() {
        let r = sample();
        assert_documented(
            "dataplane",
            &serde_json::to_value(&r).unwrap(),
            &[crate::keys::DATAPLANE],
        );
        let mut md = Md(String::new());
        render(&r, &mut md);
        assert!(md.0.contains("**missed** by 25%"), "{}", md.0);
        assert!(md.0.contains("![ns per packet"), "{}", md.0);
    }
}
