//! Part 5's section of the report, and its plot.

use super::{INSERT_SHARE, LARGE_DRAIN, Report, SMALL_DRAIN, TOUCH_EVERY};
use crate::{
    plot::{self, Scale, Series},
    report::{Md, Results, f},
    stats::Summary,
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

pub fn render(r: &Report, results: &Results, md: &mut Md) {
    md.run(&r.run);
    md.line("### Memory at the default sizes");
    md.blank();
    md.line(format!(
        "Source: {}. Per-CPU maps hold one value per possible CPU ({} here).",
        r.memory.source, r.memory.possible_cpus
    ));
    md.blank();
    let mut rows: Vec<[String; 6]> = r
        .memory
        .maps
        .iter()
        .map(|(name, m)| {
            [
                format!("`{name}`"),
                m.kind.clone(),
                m.entries.to_string(),
                format!("{} + {}", m.key_size, m.value_size),
                mib(m.bytes),
                f(m.bytes as f64 / f64::from(m.entries.max(1)), 1),
            ]
        })
        .collect();
    rows.push([
        "total".into(),
        String::new(),
        String::new(),
        String::new(),
        mib(r.memory.total_bytes),
        String::new(),
    ]);
    md.table(
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
    let per_entry = |name: &str| {
        r.memory
            .maps
            .get(name)
            .map_or(f64::NAN, |m| m.bytes as f64 / f64::from(m.entries.max(1)))
    };
    let share = |name: &str| {
        r.memory.maps.get(name).map_or(f64::NAN, |m| {
            100.0 * m.bytes as f64 / r.memory.total_bytes.max(1) as f64
        })
    };
    md.line(format!(
        "FLOWS is {:.0}% of the total at {:.0} bytes per flow (a {}-byte key and a {}-byte \
         value; the rest is the kernel's element header, hash bucket and LRU node), all \
         allocated at load time whatever the number of flows. MAGLEV is {:.0}%: it is sized \
         for `max_vips` VIPs × 2 halves × M slots however many VIPs the config has, and an \
         array rounds each value up to 8 bytes, so a 4-byte slot takes {:.0}.",
        share("FLOWS"),
        per_entry("FLOWS"),
        r.memory.maps.get("FLOWS").map_or(0, |m| m.key_size),
        r.memory.maps.get("FLOWS").map_or(0, |m| m.value_size),
        share("MAGLEV"),
        per_entry("MAGLEV"),
    ));
    md.blank();

    let e = &r.eviction;
    md.line("### When FLOWS is full");
    md.blank();
    md.line(format!(
        "FLOWS ({} entries) filled in order from user space with {} flows ({} present \
         after the fill); then one data segment through `lb` for every {}th flow ({} flows \
         touched); then {} SYNs of new clients through `lb` ({:.0}% of the capacity), each \
         an insert into the full table. At the end: {:.2}% of the untouched flows and \
         {:.2}% of the touched ones are still present, and {:.2}% of the new flows; {} \
         entries.",
        e.capacity,
        e.capacity,
        e.filled,
        TOUCH_EVERY,
        e.touched,
        e.inserted,
        100.0 * INSERT_SHARE,
        100.0 * e.untouched_survived,
        100.0 * e.touched_survived,
        100.0 * e.new_present,
        e.entries_after,
    ));
    md.blank();
    let rows: Vec<[String; 3]> = (0..e.untouched_by_group.len())
        .map(|g| {
            [
                format!("{}", g + 1),
                format!("{}%", f(100.0 * e.untouched_by_group[g], 2)),
                format!(
                    "{}%",
                    f(
                        100.0 * e.touched_by_group.get(g).copied().unwrap_or(f64::NAN),
                        2
                    )
                ),
            ]
        })
        .collect();
    md.table(
        [
            "tenth of the fill (1 = oldest)",
            "untouched: still present",
            "touched: still present",
        ],
        &rows,
    );
    let gone: Vec<String> = e
        .untouched_by_group
        .iter()
        .enumerate()
        .filter(|(_, s)| **s < 1.0)
        .map(|(g, s)| format!("tenth {} {:.0}% gone", g + 1, 100.0 * (1.0 - s)))
        .collect();
    md.line(format!(
        "What went: the least recently used entries, in the order they were last used \
         ({}); of the flows that had one packet after the fill, however old their \
         entry, {:.2}% are still there, and {:.2}% of the new flows. So a full table evicts \
         idle flows first, and a connection that keeps sending keeps its entry.",
        if gone.is_empty() {
            "nothing".to_owned()
        } else {
            gone.join(", ")
        },
        100.0 * e.touched_survived,
        100.0 * e.new_present,
    ));
    md.blank();
    for p in &r.plots {
        md.image("share of the fill still present, by age", p);
    }
    let full = results
        .path("dataplane.ns.new_flow_full_net.median")
        .and_then(serde_json::Value::as_f64);
    let room = results
        .path("dataplane.ns.new_flow_net.median")
        .and_then(serde_json::Value::as_f64);
    let stats_full = results
        .path("dataplane.stats_ns.new_flow_full.median")
        .and_then(serde_json::Value::as_f64);
    match (full, room) {
        (Some(full), Some(room)) => md.line(format!(
            "Cost of an insert when full (part 1, `dataplane.ns.new_flow_full_net`): a new \
             flow through `lb` into the full table costs {} ns against {} ns with room \
             (run-time statistics: {} ns).",
            f(full, 1),
            f(room, 1),
            stats_full.map_or("n/a".into(), |x| f(x, 1))
        )),
        _ => md.line(
            "Cost of an insert when full: part 1 (`cargo xtask bench dataplane`) has not \
             run yet; its `dataplane.ns.new_flow_full_net` is that figure.",
        ),
    }
    md.blank();

    let d = &r.drain;
    md.line("### What a drain sees");
    md.blank();
    md.line(format!(
        "FLOWS holding {} live flows (filled from user space): backend 0 has {}, backend 1 \
         has {}, the others share the rest. Milliseconds, median of {} rounds (range). \
         `count_by_backend` is what `lb status` and the metrics run every few seconds; \
         `Tracked::collect` and `Maps::record_drain_flows` run once when a drain starts; `Tracked::refresh` is a \
         draining backend's per-tick cost, which grows with its own flows only.",
        d.flows, SMALL_DRAIN, LARGE_DRAIN, d.rounds
    ));
    md.blank();
    let row = |what: &str, s: &Summary| {
        [
            what.to_owned(),
            f(s.median, 2),
            format!("{}–{}", f(s.min, 2), f(s.max, 2)),
        ]
    };
    md.table(
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
    md.line(format!(
        "A pass over the whole table costs {:.2} µs per flow batched ({:.1}× less than \
         entry by entry). The daemon's `count_by_backend` (a {} s pass at {} flows) then \
         waits the longer of {} s and {} passes, so at this size it runs every {} s and \
         keeps about {:.1}% of a CPU busy, outside the daemon's lock. A draining backend's \
         tick costs {:.2} µs per flow it still has (one lookup each), {} ms for 10,000 \
         flows, whatever the size of the table.",
        1e3 * d.for_each_flow_ms.median / f64::from(d.flows),
        d.per_entry_scan_ms.median / d.for_each_flow_ms.median,
        f(pass_s, 2),
        d.flows,
        every,
        d.full_count_duty,
        f(pass_s + wait_s, 1),
        100.0 * pass_s / (pass_s + wait_s),
        1e3 * d.refresh_10k_ms.median / f64::from(LARGE_DRAIN),
        f(d.refresh_10k_ms.median, 1),
    ));
    md.blank();
}
