//! Part 1's figures, their JSON keys, the tables that document cases and ratios, and the plot.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

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
    pub ns: BTreeMap<String, Summary>,
    /// Per-call cases: the median call of each round, over rounds.
    #[serde(default)]
    pub p50_ns: BTreeMap<String, Summary>,
    /// Per-call cases: calls slower than 5 µs (batches of LRU work, interrupts).
    #[serde(default)]
    pub slow_calls: BTreeMap<String, SlowCalls>,
    pub ratios: BTreeMap<String, Summary>,
    /// ns per packet by the kernel's run-time statistics, per case.
    pub stats_ns: BTreeMap<String, Summary>,
    pub stats_ratios: BTreeMap<String, Summary>,
    pub targets: BTreeMap<String, Target>,
    pub profile: BTreeMap<String, ProgSize>,
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
    let pick: &[(&str, usize)] = &[
        ("floor", 0),
        ("nonvip", 1),
        ("nonvip_port", 1),
        ("floor_flow", 0),
        ("floor_flow4", 0),
        ("floor_flow_pcpu", 2),
        ("established", 1),
        ("udp", 1),
        ("ipv6", 1),
        ("vlan", 1),
        ("floor_flow_insert_net", 0),
        ("floor_flow_pcpu_insert_net", 2),
        ("new_flow_net", 1),
        ("confirm_net", 1),
        ("floor_flow_insert_full_net", 0),
        ("floor_flow_pcpu_insert_full_net", 2),
        ("new_flow_full_net", 1),
        ("confirm_full_net", 1),
        ("connection_full_net", 1),
    ];
    let bars: Vec<Bar> = pick
        .iter()
        .filter_map(|(c, color)| {
            let s = r.ns.get(*c)?;
            Some(Bar {
                label: (*c).to_owned(),
                value: s.median,
                lo: s.min,
                hi: s.max,
                color: *color,
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
            ns: [("floor".to_owned(), s), ("established".to_owned(), s)].into(),
            p50_ns: [("new_flow".to_owned(), s)].into(),
            slow_calls: [(
                "new_flow".to_owned(),
                SlowCalls {
                    share: 0.01,
                    mean_us: 10.0,
                },
            )]
            .into(),
            ratios: [("established_vs_floor_flow".to_owned(), s)].into(),
            stats_ns: [("floor".to_owned(), s)].into(),
            stats_ratios: [("established_vs_floor_flow".to_owned(), s)].into(),
            targets: [("established_vs_floor_flow".to_owned(), target)].into(),
            profile: [("lb".to_owned(), size)].into(),
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
