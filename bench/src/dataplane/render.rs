//! Part 1's section of the report: method, targets, figures, cases, ratios.

use super::{
    described::{CASES, compares},
    figure::{Figure as F, Ratio},
    findings::{render_lru, render_misses},
    lookup::{med, over, ratio, stat},
    nat_report::{self, DsrFigures},
    report::Report,
};
use crate::{
    report::{Md, f},
    template::fill,
};

fn ns(r: &Report, case: F) -> (String, String, String) {
    let d = r.ns.get(&case);
    let s = r.stats_ns.get(&case);
    (
        d.map_or("–".into(), |s| f(s.median, 1)),
        d.map_or("–".into(), |s| format!("{}–{}", f(s.min, 1), f(s.max, 1))),
        s.map_or("–".into(), |s| f(s.median, 1)),
    )
}

pub fn render(r: &Report, md: &mut Md) {
    let m = &r.method;
    let mitigations = &r.run.machine.mitigations;
    md.0.push_str(&fill(
        include_str!("../../templates/dataplane.md"),
        &[
            ("run", r.run.line()),
            ("max_flows", r.table.max_flows.to_string()),
            ("present", r.table.present.to_string()),
            ("cpu", r.table.cpu.to_string()),
            ("repeat", m.repeat.to_string()),
            ("calls", m.calls.to_string()),
            ("rounds", m.rounds.to_string()),
            ("stats_rounds", m.stats_rounds.to_string()),
            ("xdp_pass_stats", stat(r, F::XdpPass)),
            ("xdp_pass", med(r, F::XdpPass)),
            (
                "mitigations",
                if mitigations.is_empty() {
                    "unknown".into()
                } else {
                    mitigations.clone()
                },
            ),
        ],
    ));

    md.line("### Targets");
    md.blank();
    let rows: Vec<[String; 7]> = r
        .targets
        .iter()
        .map(|(&name, t)| {
            let range = r
                .ratios
                .get(&name)
                .map_or("–".into(), |s| format!("{}–{}", f(s.min, 2), f(s.max, 2)));
            let verdict = if t.met {
                "met".to_owned()
            } else {
                format!("**missed** by {:.0}%", 100.0 * (t.measured / t.max - 1.0))
            };
            [
                format!("`{name}`"),
                format!("≤ {}", t.max),
                f(t.measured, 2),
                range,
                f(t.stats, 2),
                name.net_of_xdp_pass().map_or("n/a".into(), |n| ratio(r, n)),
                verdict,
            ]
        })
        .collect();
    md.table(
        [
            "ratio",
            "target",
            "measured",
            "range over rounds",
            "run-time statistics",
            "net of the empty program",
            "verdict",
        ],
        &rows,
    );
    render_attribution(r, md);

    md.line("### Cost per packet");
    md.blank();
    // Every figure, in the order `Figure` declares them.
    let rows: Vec<[String; 5]> =
        r.ns.keys()
            .map(|&c| {
                let (d, range, s) = ns(r, c);
                let p50 = r.p50_ns.get(&c).map_or(String::new(), |s| f(s.median, 1));
                [format!("`{c}`"), d, range, p50, s]
            })
            .collect();
    md.table(
        [
            "case",
            "ns (test-run time)",
            "range over rounds",
            "median call",
            "ns (run-time statistics)",
        ],
        &rows,
    );
    md.line(include_str!("../../templates/dataplane_per_call.md").trim_end());
    md.blank();
    for p in &r.plots {
        md.image("ns per packet, median and range over rounds", p);
    }

    md.line("### Cases");
    md.blank();
    md.0.push_str(CASES);
    md.blank();

    md.line("### Ratios");
    md.blank();
    let rows: Vec<[String; 5]> = r
        .ratios
        .iter()
        .map(|(name, s)| {
            let what = compares(*name);
            [
                format!("`{name}`"),
                f(s.median, 3),
                format!("{}–{}", f(s.min, 3), f(s.max, 3)),
                r.stats_ratios
                    .get(name)
                    .map_or("–".into(), |s| f(s.median, 3)),
                what.to_owned(),
            ]
        })
        .collect();
    md.table(
        [
            "ratio",
            "median",
            "range",
            "run-time statistics",
            "compares",
        ],
        &rows,
    );

    if let Some(nat) = &r.nat {
        let dsr = DsrFigures {
            established: r.ns.get(&F::Established),
            new_flow_net: r.ns.get(&F::NewFlowNet),
        };
        nat_report::render(nat, &dsr, md);
    }

    md.line("### The flow table: one LRU list or one per CPU");
    md.blank();
    render_lru(r, md);
    super::flood::render_flood_defence(r, md);

    md.line("### Profile");
    md.blank();
    let rows: Vec<[String; 4]> = r
        .profile
        .iter()
        .map(|(p, s)| {
            [
                format!("`{p}`"),
                s.xlated_insns.to_string(),
                s.jited_bytes.to_string(),
                s.verified_insns.to_string(),
            ]
        })
        .collect();
    md.table(
        [
            "program",
            "instructions after the verifier (bpftool xlated)",
            "JITed bytes",
            "instructions the verifier walked",
        ],
        &rows,
    );
    render_misses(r, md);
}

/// Where the established path's time goes, reference by reference.
fn render_attribution(r: &Report, md: &mut Md) {
    let v = |c| r.ns.get(&c).map_or(f64::NAN, |s| s.median);
    let rows = [
        ("`floor`", "parse, MAC swap", v(F::Floor), f64::NAN),
        (
            "`floor_flow`",
            "+ one FLOWS lookup (hit)",
            v(F::FloorFlow),
            over(r, Ratio::FloorFlowVsFloor, F::Floor),
        ),
        (
            "`floor_flow_vip`",
            "+ the VIPS hash lookup before it",
            v(F::FloorFlowVip),
            over(r, Ratio::FloorFlowVipVsFloorFlow, F::FloorFlow),
        ),
        (
            "`floor_flow_clk`",
            "floor_flow + bpf_ktime_get_ns() into last_seen",
            v(F::FloorFlowClk),
            over(r, Ratio::FloorFlowClkVsFloorFlow, F::FloorFlow),
        ),
        (
            "`floor_flow_cclk`",
            "floor_flow + bpf_ktime_get_coarse_ns() instead",
            v(F::FloorFlowCclk),
            over(r, Ratio::FloorFlowCclkVsFloorFlow, F::FloorFlow),
        ),
        (
            "`floor_flow_jif`",
            "floor_flow + bpf_jiffies64() instead (inlined: one load)",
            v(F::FloorFlowJif),
            over(r, Ratio::FloorFlowJifVsFloorFlow, F::FloorFlow),
        ),
        (
            "`established` (lb)",
            "all of it, plus VIP_ADDRS, VIP_PORTS, BACKENDS and two per-CPU counters",
            v(F::Established),
            over(r, Ratio::EstablishedVsFloorFlow, F::FloorFlow),
        ),
    ];
    md.line("### Where the established path's time goes");
    md.blank();
    let rows: Vec<[String; 4]> = rows
        .iter()
        .map(|(c, what, ns, d)| {
            [
                (*c).to_owned(),
                (*what).to_owned(),
                f(*ns, 1),
                if d.is_finite() {
                    format!("{d:+.1}")
                } else {
                    String::new()
                },
            ]
        })
        .collect();
    md.table(
        [
            "program",
            "does",
            "ns (test-run time)",
            "ns over floor_flow (floor_flow: over floor)",
        ],
        &rows,
    );
    md.0.push_str(&fill(
        include_str!("../../templates/dataplane_attribution.md"),
        &[
            ("cold", ratio(r, Ratio::EstablishedSpreadVsFloorFlowSpread)),
            ("established", med(r, F::EstablishedSpreadNet)),
            ("floor_flow", med(r, F::FloorFlowSpreadNet)),
        ],
    ));
}
