//! Part 5: the flow table. Memory of every map at the default sizes; what a
//! full FLOWS evicts; what a drain's accounting costs over a million flows.

mod measure;
mod render;

use std::{collections::BTreeMap, time::Instant};

use anyhow::Result;
use serde::{Deserialize, Serialize};

pub use self::render::{InsertCost, render};
use crate::{
    Ctx,
    dataplane::setup::Lb,
    report::RunInfo,
    stats::{Summary, round},
};

/// Rounds of the drain-accounting timings.
pub const ROUNDS: usize = 5;
/// Flows in the table for the drain figures.
pub const DRAIN_FLOWS: u32 = 1_000_000;
/// Flows of the two draining backends.
pub const SMALL_DRAIN: u32 = 1_000;
pub const LARGE_DRAIN: u32 = 10_000;
/// Eviction experiment: share of the entries touched by traffic, and flows
/// inserted into the full table, as a share of its capacity.
pub const TOUCH_EVERY: u32 = 10;
pub const INSERT_SHARE: f64 = 0.2;
/// Groups of the table by insertion order.
pub const GROUPS: usize = 10;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Report {
    pub run: RunInfo,
    pub memory: Memory,
    pub eviction: Eviction,
    pub drain: Drain,
    #[serde(default)]
    pub plots: Vec<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Memory {
    /// Where the byte counts come from.
    pub source: String,
    /// CPUs the per-CPU maps hold a copy for.
    pub possible_cpus: u32,
    pub maps: MapsMemory,
    pub total_bytes: u64,
}

/// lb's maps: the two the report discusses by field, the others by name
/// (one JSON object keyed by map name either way).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MapsMemory {
    #[serde(rename = "FLOWS")]
    pub flows: MapMemory,
    #[serde(rename = "MAGLEV")]
    pub maglev: MapMemory,
    #[serde(flatten)]
    pub others: BTreeMap<String, MapMemory>,
}

impl MapsMemory {
    /// Every map, by name.
    pub fn all(&self) -> BTreeMap<&str, &MapMemory> {
        let mut all: BTreeMap<&str, &MapMemory> =
            self.others.iter().map(|(n, m)| (n.as_str(), m)).collect();
        all.insert(lb_common::maps::FLOWS, &self.flows);
        all.insert(lb_common::maps::MAGLEV, &self.maglev);
        all
    }
}

impl MapMemory {
    pub fn bytes_per_entry(&self) -> f64 {
        self.bytes as f64 / f64::from(self.entries.max(1))
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MapMemory {
    pub kind: String,
    pub entries: u32,
    pub key_size: u32,
    pub value_size: u32,
    pub bytes: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Eviction {
    pub capacity: u32,
    /// Entries after inserting `capacity` flows in order.
    pub filled: u64,
    /// Flows that got one packet through `lb` after the fill.
    pub touched: u32,
    /// New flows (SYNs through `lb`) into the full table.
    pub inserted: u32,
    /// Per group of the fill (oldest first): share still present, untouched
    /// and touched flows.
    pub untouched_by_group: Vec<f64>,
    pub touched_by_group: Vec<f64>,
    pub untouched_survived: f64,
    pub touched_survived: f64,
    /// Share of the new flows present at the end.
    pub new_present: f64,
    pub entries_after: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Drain {
    pub flows: u32,
    pub rounds: u32,
    /// One batched pass (`for_each_flow`) over the table.
    pub for_each_flow_ms: Summary,
    /// Live flows of every backend (`count_by_backend`).
    pub count_by_backend_ms: Summary,
    /// A draining backend's flows collected (`Tracked::collect`, one pass).
    pub collect_ms: Summary,
    /// 10k flows of a draining backend recorded in DRAIN_FLOWS
    /// (`Maps::record_drain_flows`, at a drain's start).
    #[serde(default)]
    pub record_10k_ms: Summary,
    /// `Tracked::refresh` of a draining backend with 1k and 10k flows.
    pub refresh_1k_ms: Summary,
    pub refresh_10k_ms: Summary,
    /// The same pass as `for_each_flow`, entry by entry (aya's iterator, the
    /// fallback when the kernel has no batch lookup).
    pub per_entry_scan_ms: Summary,
    /// How often, at most, the daemon runs `count_by_backend` (its FULL_COUNT_EVERY).
    #[serde(default)]
    pub full_count_every_s: f64,
    /// After a pass the daemon waits at least this many times as long as the
    /// pass took (its FULL_COUNT_DUTY).
    #[serde(default)]
    pub full_count_duty: u32,
}

pub fn run(ctx: &Ctx) -> Result<Report> {
    let started = Instant::now();
    let mut lb = Lb::load()?;
    eprintln!("flowtable: memory of the maps");
    let memory = measure::memory(&lb)?;
    eprintln!("flowtable: filling FLOWS to capacity, touching a tenth, inserting a fifth more");
    let eviction = measure::eviction(&mut lb)?;
    drop(lb);
    eprintln!("flowtable: drain accounting over {DRAIN_FLOWS} flows, {ROUNDS} rounds");
    let mut lb = Lb::load()?;
    let drain = measure::drain(&mut lb)?;
    let mut r = Report {
        run: ctx.run_info(0.0),
        memory,
        eviction,
        drain,
        plots: Vec::new(),
    };
    r.plots = render::plot(&r, &ctx.plots).into_iter().collect();
    r.run.seconds = round(started.elapsed().as_secs_f64(), 1);
    Ok(r)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::{
        keys::assert_documented,
        report::{Md, sample_run},
    };

    /// A fixture: a made-up part 5 report (not a measurement).
    pub(crate) fn fixture() -> Report {
        let s = Summary {
            median: 2.0,
            min: 1.0,
            max: 3.0,
        };
        let map = MapMemory {
            kind: "LruHash".into(),
            entries: 4,
            key_size: 40,
            value_size: 24,
            bytes: 512,
        };
        Report {
            run: sample_run(),
            memory: Memory {
                source: "test".into(),
                possible_cpus: 2,
                maps: MapsMemory {
                    flows: map.clone(),
                    maglev: MapMemory {
                        kind: "Array".into(),
                        entries: 16,
                        key_size: 4,
                        value_size: 4,
                        bytes: 128,
                    },
                    others: [("VIPS".to_owned(), map)].into(),
                },
                total_bytes: 1152,
            },
            eviction: Eviction {
                capacity: 4,
                filled: 4,
                touched: 1,
                inserted: 1,
                untouched_by_group: vec![0.0; GROUPS],
                touched_by_group: vec![1.0; GROUPS],
                untouched_survived: 0.5,
                touched_survived: 1.0,
                new_present: 1.0,
                entries_after: 4,
            },
            drain: Drain {
                flows: 4,
                rounds: 5,
                for_each_flow_ms: s,
                count_by_backend_ms: s,
                collect_ms: s,
                record_10k_ms: s,
                refresh_1k_ms: s,
                refresh_10k_ms: s,
                per_entry_scan_ms: s,
                full_count_every_s: 2.0,
                full_count_duty: 20,
            },
            plots: vec!["flowtable_eviction.png".into()],
        }
    }

    #[test]
    fn every_key_is_documented_and_the_section_renders() {
        let r = fixture();
        let s = r.drain.refresh_1k_ms;
        assert_documented(
            "flowtable",
            &serde_json::to_value(&r).unwrap(),
            &[crate::keys::FLOWTABLE],
        );
        let mut md = Md(String::new());
        render(&r, None, &mut md);
        assert!(md.0.contains("n/a (part 1, `cargo xtask bench dataplane`, has not run)"));
        // The fixture's figures in their rows and sentences.
        for line in [
            "| `FLOWS` | LruHash | 4 | 40 + 24 | 0.00 | 128.0 |",
            "| `MAGLEV` | Array | 16 | 4 + 4 | 0.00 | 8.0 |",
            "| `VIPS` | LruHash | 4 | 40 + 24 | 0.00 | 128.0 |",
            "FLOWS is 44% of the total at 128 bytes per flow (a 40-byte key and a 24-byte value;",
            "MAGLEV is 11%:",
            "| 1 | 0.00% | 100.00% |",
            "| `Tracked::refresh`, 10,000 flows | 2.00 | 1.00–3.00 |",
            "![share of the fill still present, by age](bench/flowtable_eviction.png)",
        ] {
            assert!(md.0.contains(line), "{line} missing from:\n{}", md.0);
        }
        let insert = InsertCost {
            full_net: Summary { median: 7.0, ..s },
            room_net: Summary { median: 5.0, ..s },
            full_stats: None,
        };
        let mut md = Md(String::new());
        render(&r, Some(&insert), &mut md);
        assert!(
            md.0.contains("costs 7.0 ns against 5.0 ns with room (run-time statistics: n/a ns)"),
            "{}",
            md.0
        );
    }
}
