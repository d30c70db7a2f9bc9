//! Part 5's section of the report, and its plot.

use super::{INSERT_SHARE, LARGE_DRAIN, MapMemory, Report, SMALL_DRAIN, TOUCH_EVERY};
use crate::{
    dataplane::report::{Figure, Report as DataplaneReport},
    plot::{self, Scale, Series},
    report::{Md, f, images, table},
    stats::Summary,
    template::fill,
};

pub fn plot(r: &Report, dir: &std::path::Path) -> Option<String> {
    let e = &r.eviction;
    let pts = |v: &[f64]| -> Vec<(f64, f64)> {
        (1..)
            .zip(v)
            .map(|(i, x)| (f64::from(i), 100.0 * x))
            .collect()
    };
    plot::make(dir, "flowtable_eviction.png", |path| {
        plot::xy(
            path,
            "Full FLOWS, 20% more flows inserted: what is left",
            ("tenth of the fill, oldest first", Scale::Linear),
            ("% of the flows still present", Scale::Linear),
            &[
                Series {
                    name: "untouched since the fill".into(),
                    points: pts(&e.untouched_by_group),
                    color: 3,
                    marks: true,
                },
                Series {
                    name: "one packet after the fill".into(),
                    points: pts(&e.touched_by_group),
                    color: 2,
                    marks: true,
                },
            ],
            plotters::prelude::SeriesLabelPosition::LowerRight,
        )
    })
}

fn mib(bytes: u64) -> String {
    f(bytes as f64 / (1024.0 * 1024.0), 2)
}

/// Part 1's figures the section compares with: a new flow into the full
/// table and into one with room.
pub struct InsertCost {
    pub full_net: Summary,
    pub room_net: Summary,
    pub full_stats: Option<Summary>,
}

impl InsertCost {
    /// From part 1's cases `new_flow_full_net`, `new_flow_net` and the
    /// run-time statistics' `new_flow_full`.
    pub fn of(dataplane: &DataplaneReport) -> Option<Self> {
        Some(Self {
            full_net: *dataplane.ns.get(&Figure::NewFlowFullNet)?,
            room_net: *dataplane.ns.get(&Figure::NewFlowNet)?,
            full_stats: dataplane.stats_ns.get(&Figure::NewFlowFull).copied(),
        })
    }
}

pub fn render(r: &Report, insert: Option<&InsertCost>, md: &mut Md) {
    let m = &r.memory;
    let share = |map: &MapMemory| f(100.0 * map.bytes as f64 / m.total_bytes.max(1) as f64, 0);
    let mut rows: Vec<[String; 6]> = m
        .maps
        .all()
        .iter()
        .map(|(name, map)| {
            [
                format!("`{name}`"),
                map.kind.clone(),
                map.entries.to_string(),
                format!("{} + {}", map.key_size, map.value_size),
                mib(map.bytes),
                f(map.bytes_per_entry(), 1),
            ]
        })
        .collect();
    rows.push([
        "total".into(),
        String::new(),
        String::new(),
        String::new(),
        mib(m.total_bytes),
        String::new(),
    ]);
    let memory_table = table(
        [
            "map",
            "type",
            "entries",
            "key + value bytes",
            "MiB",
            "bytes per entry",
        ],
        &rows,
    );
    let e = &r.eviction;
    let pct = |x: f64| f(100.0 * x, 2);
    let groups: Vec<[String; 3]> = (0..e.untouched_by_group.len())
        .map(|g| {
            let touched = e.touched_by_group.get(g).copied().unwrap_or(f64::NAN);
            [
                format!("{}", g + 1),
                format!("{}%", pct(e.untouched_by_group[g])),
                format!("{}%", pct(touched)),
            ]
        })
        .collect();
    let gone: Vec<String> = e
        .untouched_by_group
        .iter()
        .enumerate()
        .filter(|(_, s)| **s < 1.0)
        .map(|(g, s)| format!("tenth {} {:.0}% gone", g + 1, 100.0 * (1.0 - s)))
        .collect();
    let d = &r.drain;
    let row = |what: &str, s: &Summary| {
        [
            what.to_owned(),
            f(s.median, 2),
            format!("{}–{}", f(s.min, 2), f(s.max, 2)),
        ]
    };
    let drain_table = table(
        ["operation", "ms", "range"],
        &[
            row(
                "`for_each_flow` (batched pass, 1M entries)",
                &d.for_each_flow_ms,
            ),
            row("`count_by_backend` (1M entries)", &d.count_by_backend_ms),
            row("`Tracked::collect` (1M entries, 1k kept)", &d.collect_ms),
            row(
                "`Maps::record_drain_flows`, 10,000 flows (DRAIN_FLOWS)",
                &d.record_10k_ms,
            ),
            row("`Tracked::refresh`, 1,000 flows", &d.refresh_1k_ms),
            row("`Tracked::refresh`, 10,000 flows", &d.refresh_10k_ms),
            row(
                "entry-by-entry pass (aya iterator, 1M entries)",
                &d.per_entry_scan_ms,
            ),
        ],
    );
    // The daemon's whole-table count: a pass, then a wait of the longer of
    // FULL_COUNT_EVERY and FULL_COUNT_DUTY passes (daemon/mod.rs).
    let pass_s = d.count_by_backend_ms.median / 1e3;
    let every = if d.full_count_every_s > 0.0 {
        d.full_count_every_s
    } else {
        2.0
    };
    let wait_s = every.max(pass_s * f64::from(d.full_count_duty));
    let not_run = || "n/a (part 1, `cargo xtask bench dataplane`, has not run)".to_owned();
    md.0.push_str(&fill(
        include_str!("../../templates/flowtable.md"),
        &[
            ("run", r.run.line()),
            ("source", m.source.clone()),
            ("possible_cpus", m.possible_cpus.to_string()),
            ("memory_table", memory_table),
            ("flows_share", share(&m.maps.flows)),
            ("flows_per_entry", f(m.maps.flows.bytes_per_entry(), 0)),
            ("flows_key_size", m.maps.flows.key_size.to_string()),
            ("flows_value_size", m.maps.flows.value_size.to_string()),
            ("maglev_share", share(&m.maps.maglev)),
            ("maglev_per_entry", f(m.maps.maglev.bytes_per_entry(), 0)),
            ("capacity", e.capacity.to_string()),
            ("filled", e.filled.to_string()),
            ("touch_every", TOUCH_EVERY.to_string()),
            ("touched", e.touched.to_string()),
            ("inserted", e.inserted.to_string()),
            ("insert_share", f(100.0 * INSERT_SHARE, 0)),
            ("untouched_survived", pct(e.untouched_survived)),
            ("touched_survived", pct(e.touched_survived)),
            ("new_present", pct(e.new_present)),
            ("entries_after", e.entries_after.to_string()),
            (
                "groups_table",
                table(
                    [
                        "tenth of the fill (1 = oldest)",
                        "untouched: still present",
                        "touched: still present",
                    ],
                    &groups,
                ),
            ),
            (
                "gone",
                if gone.is_empty() {
                    "nothing".to_owned()
                } else {
                    gone.join(", ")
                },
            ),
            (
                "plots",
                images("share of the fill still present, by age", &r.plots),
            ),
            (
                "insert_full",
                insert.map_or_else(not_run, |i| f(i.full_net.median, 1)),
            ),
            (
                "insert_room",
                insert.map_or_else(not_run, |i| f(i.room_net.median, 1)),
            ),
            (
                "insert_full_stats",
                insert
                    .and_then(|i| i.full_stats)
                    .map_or("n/a".into(), |s| f(s.median, 1)),
            ),
            ("drain_flows", d.flows.to_string()),
            ("small_drain", SMALL_DRAIN.to_string()),
            ("large_drain", LARGE_DRAIN.to_string()),
            ("drain_rounds", d.rounds.to_string()),
            ("drain_table", drain_table),
            (
                "pass_us_per_flow",
                f(1e3 * d.for_each_flow_ms.median / f64::from(d.flows), 2),
            ),
            (
                "batch_gain",
                f(d.per_entry_scan_ms.median / d.for_each_flow_ms.median, 1),
            ),
            ("pass_s", f(pass_s, 2)),
            ("full_count_every", every.to_string()),
            ("full_count_duty", d.full_count_duty.to_string()),
            ("count_period_s", f(pass_s + wait_s, 1)),
            ("count_cpu_share", f(100.0 * pass_s / (pass_s + wait_s), 1)),
            (
                "refresh_us_per_flow",
                f(1e3 * d.refresh_10k_ms.median / f64::from(LARGE_DRAIN), 2),
            ),
            ("refresh_10k_ms", f(d.refresh_10k_ms.median, 1)),
        ],
    ));
}
