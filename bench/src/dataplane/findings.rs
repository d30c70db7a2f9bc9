//! What the figures say: the flow table's design, and for every missed
//! target what the profile shows and what would change it.

use super::{
    figure::{Figure as F, Program, Ratio},
    lookup::{med, over, p50, ratio, slow, stat},
    report::{Report, Target},
};
use crate::{
    report::{Md, f},
    template::fill,
};

pub fn render_lru(r: &Report, md: &mut Md) {
    // Test-run time (net where per-call) and, in brackets, the statistics.
    let both = |a: F, b: F| -> [String; 2] {
        [a, b].map(|c| format!("{} ({})", med(r, c), stat(r, c.in_stats())))
    };
    let row = |what: &str, cells: [String; 2]| {
        let [a, b] = cells;
        [what.to_owned(), a, b]
    };
    let rows = [
        row("hit, ns", both(F::FloorFlow, F::FloorFlowPcpu)),
        row(
            "insert, table with room, ns",
            both(F::FloorFlowInsertNet, F::FloorFlowPcpuInsertNet),
        ),
        row(
            "insert, full table (evicts), ns",
            both(F::FloorFlowInsertFullNet, F::FloorFlowPcpuInsertFullNet),
        ),
        row(
            "median insert call, full table (overhead included), ns",
            [
                p50(r, F::FloorFlowInsertFull),
                p50(r, F::FloorFlowPcpuInsertFull),
            ],
        ),
        row(
            "calls over 5 µs, table with room",
            [slow(r, F::FloorFlowInsert), slow(r, F::FloorFlowPcpuInsert)],
        ),
        row(
            "calls over 5 µs, full table",
            [
                slow(r, F::FloorFlowInsertFull),
                slow(r, F::FloorFlowPcpuInsertFull),
            ],
        ),
        row(
            "entries one CPU can use",
            [
                r.table.max_flows.to_string(),
                r.table.pcpu_share.to_string(),
            ],
        ),
    ];
    let mut table = Md(String::new());
    table.table(["", "one common list", "per-CPU lists"], &rows);
    md.0.push_str(&fill(
        include_str!("../../templates/dataplane_lru.md"),
        &[
            ("max_flows", r.table.max_flows.to_string()),
            ("table", table.0),
            ("hit", ratio(r, Ratio::FloorFlowPcpuVsFloorFlow)),
            (
                "insert",
                ratio(r, Ratio::FloorFlowPcpuInsertVsFloorFlowInsert),
            ),
            (
                "insert_full",
                ratio(r, Ratio::FloorFlowPcpuInsertFullVsFloorFlowInsertFull),
            ),
            ("p50_common", p50(r, F::FloorFlowInsertFull)),
            ("p50_pcpu", p50(r, F::FloorFlowPcpuInsertFull)),
            ("pcpu_share", r.table.pcpu_share.to_string()),
            ("new_flow_full_net", med(r, F::NewFlowFullNet)),
            ("new_flow_net", med(r, F::NewFlowNet)),
            ("full_vs_room", ratio(r, Ratio::NewFlowFullVsNewFlow)),
        ],
    ));
}

/// For every missed target: by how much, what the profile shows, and what
/// would change it.
pub fn render_misses(r: &Report, md: &mut Md) {
    md.line(format!("The established path: {}", established_path(r)));
    md.blank();
    let missed: Vec<(&Ratio, &Target)> = r.targets.iter().filter(|(_, t)| !t.met).collect();
    if missed.is_empty() {
        md.line("Every target is met.");
        md.blank();
        return;
    }
    let size = |p| r.profile.get(&p).map_or(0, |s| s.xlated_insns);
    let verified = |p| r.profile.get(&p).map_or(0, |s| s.verified_insns);
    md.line(fill(
        include_str!("../../templates/misses/instructions.md").trim_end(),
        &[
            ("lb_insns", size(Program::Lb).to_string()),
            ("lb_verified", verified(Program::Lb).to_string()),
            ("floor_insns", size(Program::Floor).to_string()),
            ("floor_verified", verified(Program::Floor).to_string()),
            ("floor_flow_insns", size(Program::FloorFlow).to_string()),
            (
                "floor_flow_verified",
                verified(Program::FloorFlow).to_string(),
            ),
        ],
    ));
    md.blank();
    let v = |c| r.ns.get(&c).map_or(f64::NAN, |s| s.median);
    for (name, t) in missed {
        let head = format!(
            "- `{name}`: {} against ≤ {} (missed by {:.0}%; run-time statistics {}).",
            f(t.measured, 2),
            t.max,
            100.0 * (t.measured / t.max - 1.0),
            f(t.stats, 2)
        );
        let miss = |template: &str, values: &[(&str, String)]| {
            format!(" {}", fill(template, values).trim_end())
        };
        let body = match name {
            Ratio::EstablishedVsFloorFlow => miss(
                include_str!("../../templates/misses/established.md"),
                &[
                    ("path", established_path(r)),
                    ("cold", ratio(r, Ratio::EstablishedSpreadVsFloorFlowSpread)),
                ],
            ),
            Ratio::NewFlowVsFloorFlow => miss(
                include_str!("../../templates/misses/new_flow.md"),
                &[
                    (
                        "insert_vs_floor_flow",
                        format!("{:.1}", v(F::FloorFlowInsertNet) / v(F::FloorFlow)),
                    ),
                    ("insert_net", f(v(F::FloorFlowInsertNet), 1)),
                    (
                        "spread_vs_floor_flow",
                        format!("{:.1}", v(F::FloorFlowSpreadNet) / v(F::FloorFlow)),
                    ),
                    ("vs_insert", ratio(r, Ratio::NewFlowVsFloorFlowInsert)),
                    (
                        "full_vs_insert_full",
                        ratio(r, Ratio::NewFlowFullVsFloorFlowInsertFull),
                    ),
                ],
            ),
            Ratio::NonvipVsFloor => miss(
                include_str!("../../templates/misses/nonvip.md"),
                &[("nonvip", f(v(F::Nonvip), 1)), ("floor", f(v(F::Floor), 1))],
            ),
            Ratio::NonvipPortVsFloor => miss(
                include_str!("../../templates/misses/nonvip_port.md"),
                &[
                    ("nonvip_port", f(v(F::NonvipPort), 1)),
                    ("floor", f(v(F::Floor), 1)),
                ],
            ),
            _ => String::new(),
        };
        md.line(format!("{head}{body}"));
    }
    md.blank();
}

/// The established path, and what its clock costs against the references.
fn established_path(r: &Report) -> String {
    let v = |c| r.ns.get(&c).map_or(f64::NAN, |s| s.median);
    let clock = over(r, Ratio::FloorFlowClkVsFloorFlow, F::FloorFlow);
    let coarse = over(r, Ratio::FloorFlowCclkVsFloorFlow, F::FloorFlow);
    let jiffies = over(r, Ratio::FloorFlowJifVsFloorFlow, F::FloorFlow);
    fill(
        include_str!("../../templates/dataplane_established_path.md").trim_end(),
        &[
            ("floor_flow", f(v(F::FloorFlow), 1)),
            ("established", f(v(F::Established), 1)),
            ("ratio", ratio(r, Ratio::EstablishedVsFloorFlow)),
            ("clock", format!("{clock:+.0}")),
            ("coarse", format!("{coarse:+.0}")),
            ("jiffies", format!("{jiffies:+.0}")),
        ],
    )
}
