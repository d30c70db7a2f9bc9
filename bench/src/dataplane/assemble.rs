//! From the rounds' times to the report: derived figures, ratios, targets.

use std::collections::BTreeMap;

use super::{
    CALLS, Collected, REPEAT, ROUNDS, Rounds, STATS_ROUNDS,
    figure::{Figure, NET, NET_FULL, Program, RATIOS, Ratio, TARGETS, Term},
    report::{self, Report, TableState, Target},
};
use crate::{
    Ctx,
    stats::{Summary, round},
    xdp,
};

/// Per round, `f` of the rounds' values (NaN for a figure not measured).
fn per_round(r: &Rounds, f: impl Fn(&dyn Fn(Figure) -> f64) -> f64) -> Vec<f64> {
    let n = r.values().map(Vec::len).min().unwrap_or(0);
    (0..n)
        .map(|i| f(&|fig| r.get(&fig).map_or(f64::NAN, |v| v[i])))
        .collect()
}

/// Derived per-round figures: the per-call overhead (a floor call with
/// repeat = 1 against repeat = N) and, for each per-call case, what is left
/// once the overhead of its phase is subtracted.
fn derive(dur: &mut Rounds) {
    use Figure as F;
    for (nets, overhead, r1, floor) in [
        (&NET[..], F::PerCallOverhead, F::FloorR1, F::Floor),
        (
            &NET_FULL[..],
            F::FullPerCallOverhead,
            F::FullFloorR1,
            F::FullFloor,
        ),
    ] {
        for &(case, net) in nets {
            let v = per_round(dur, |v| v(case) - (v(r1) - v(floor)));
            dur.insert(net, v);
        }
        dur.insert(overhead, per_round(dur, |v| v(r1) - v(floor)));
    }
    // A whole new connection: its SYN and the first ACK that confirms it.
    let connection = per_round(dur, |v| v(F::NewFlowFullNet) + v(F::ConfirmFullNet));
    dur.insert(F::ConnectionFullNet, connection);
}

fn ratio(r: &Rounds, (n, d): (Term, Term)) -> Summary {
    Summary::rounded(&per_round(r, |v| n.value(v) / d.value(v)), 3)
}

pub fn assemble(
    ctx: &Ctx,
    collected: &Collected,
    stats: &Rounds,
    profile: BTreeMap<Program, xdp::ProgSize>,
    table: TableState,
    seconds: f64,
) -> Report {
    let mut dur = collected.time.clone();
    derive(&mut dur);
    let summaries = |r: &Rounds| {
        r.iter()
            .map(|(k, v)| (*k, Summary::rounded(v, 2)))
            .collect()
    };
    let slow_calls = collected
        .slow_share
        .iter()
        .map(|(k, share)| {
            let us = collected.slow_us.get(k).map_or(&[][..], Vec::as_slice);
            let s = report::SlowCalls {
                share: round(crate::stats::median(share), 5),
                mean_us: round(crate::stats::median(us), 2),
            };
            (*k, s)
        })
        .collect();
    let ratios: BTreeMap<Ratio, Summary> = RATIOS
        .iter()
        .map(|&(r, n, d)| (r, ratio(&dur, (n, d))))
        .collect();
    let stats_ratios: BTreeMap<Ratio, Summary> = RATIOS
        .iter()
        .map(|&(r, n, d)| (r, ratio(stats, (n.in_stats(), d.in_stats()))))
        .collect();
    let targets = TARGETS
        .iter()
        .map(|&(r, max)| {
            let measured = ratios[&r].median;
            let t = Target {
                max,
                measured,
                stats: stats_ratios[&r].median,
                met: measured <= max,
            };
            (r, t)
        })
        .collect();
    Report {
        run: ctx.run_info(seconds),
        method: report::Method {
            repeat: REPEAT,
            calls: CALLS as u32,
            rounds: ROUNDS as u32,
            stats_rounds: STATS_ROUNDS as u32,
        },
        established_vs_floor_flow: ratios[&Ratio::EstablishedVsFloorFlow].median,
        nonvip_vs_floor: ratios[&Ratio::NonvipVsFloor].median,
        new_flow_vs_floor_flow: ratios[&Ratio::NewFlowVsFloorFlow].median,
        ns: summaries(&dur),
        p50_ns: summaries(&collected.p50),
        slow_calls,
        ratios,
        stats_ns: summaries(stats),
        stats_ratios,
        targets,
        profile,
        table,
        nat: None,
        plots: Vec::new(),
    }
}
