//! Part 4's section of the report, and its plot.

use std::path::Path;

use super::{
    ProcedureReport, Report,
    plan::{LOADS, Procedure, RequestKind},
};
use crate::{
    Part,
    plot::{self, Bar},
    report::{Md, Results, f, images, median_range, table},
    stats::Summary,
    template::fill,
};

// Exact on purpose: a range is shown only when the runs differed at all.
#[allow(clippy::float_cmp)]
fn mr(s: &Summary, digits: usize) -> String {
    if s.min == s.max {
        f(s.median, digits)
    } else {
        median_range(s, digits)
    }
}

fn procedures(r: &Report) -> Vec<(Procedure, &ProcedureReport)> {
    let mut v = vec![(Procedure::Nginx, &r.nginx), (Procedure::Lb, &r.lb)];
    if let Some(i) = &r.lb_idle {
        v.push((Procedure::LbIdle, i));
    }
    v
}

/// Client-visible failures and breaks per drain, by procedure.
pub fn plots(r: &Report, dir: &Path) -> Vec<String> {
    let mut bars = Vec::new();
    for (i, (p, x)) in procedures(r).into_iter().enumerate() {
        bars.push(Bar {
            label: format!("{}: failed at clients", p.key()),
            value: x.failed_range.median,
            lo: x.failed_range.min,
            hi: x.failed_range.max,
            color: i,
        });
        bars.push(Bar {
            label: format!("{}: broken by web-2", p.key()),
            value: x.broken.median,
            lo: x.broken.min,
            hi: x.broken.max,
            color: i,
        });
    }
    plot::make(dir, "drain_failures.png", |path| {
        plot::hbars(
            path,
            "Draining web-2 under load: requests lost and connections broken per drain",
            "per drain (median, range over runs)",
            &bars,
        )
    })
    .into_iter()
    .collect()
}

pub fn render(results: &Results, md: &mut Md) -> bool {
    let Some(r) = results.get::<Report>(Part::Drain) else {
        return false;
    };
    let ps = procedures(&r);
    let mut rows: Vec<[String; 4]> = Vec::new();
    // The row's name, then a cell per procedure (the last one empty without lb_idle).
    let row = |name: String, g: &dyn Fn(&ProcedureReport) -> String| -> [String; 4] {
        std::array::from_fn(|i| match i {
            0 => name.clone(),
            _ => ps.get(i - 1).map_or_else(String::new, |(_, x)| g(x)),
        })
    };
    rows.push(row("**failed requests, all kinds**".into(), &|x| {
        format!("**{}**", mr(&x.failed_range, 0))
    }));
    for l in LOADS {
        rows.push(row(format!("failed: {}", l.label()), &|x| {
            x.failed_by_kind
                .get(&l)
                .map_or_else(String::new, |s| mr(s, 0))
        }));
    }
    rows.push(row("failed: long requests incomplete".into(), &|x| {
        x.failed_by_kind
            .get(&RequestKind::Long)
            .map_or_else(String::new, |s| mr(s, 0))
    }));
    rows.push(row("**connections web-2 broke**".into(), &|x| {
        format!("**{}**", mr(&x.broken, 0))
    }));
    rows.push(row(
        "backend side: resets web-2 sent + unanswered requests".into(),
        &|x| {
            format!(
                "{} = {} + {}",
                mr(&x.backend_side_broken, 0),
                f(x.resets_sent.median, 0),
                f(x.no_response.median, 0)
            )
        },
    ));
    rows.push(row("Nginx error log, by kind".into(), &|x| {
        x.error_log
            .iter()
            .map(|(k, s)| {
                let key = serde_json::to_string(k).unwrap_or_default();
                format!("{} {}", key.trim_matches('"'), mr(s, 0))
            })
            .collect::<Vec<_>>()
            .join(", ")
    }));
    rows.push(row("last new connection on web-2, ms".into(), &|x| {
        mr(&x.last_new_conn_ms, 0)
    }));
    rows.push(row("until web-2 had no connections, ms".into(), &|x| {
        mr(&x.until_empty_ms, 0)
    }));
    rows.push(row("SIGTERM reached web-2's master, ms".into(), &|x| {
        mr(&x.sigterm_ms, 0)
    }));
    rows.push(row("web-2's master exited, ms".into(), &|x| {
        mr(&x.master_exit_ms, 0)
    }));
    rows.push(row("long requests served by web-2 (of 12)".into(), &|x| {
        mr(&x.long_on_target, 0)
    }));
    rows.push(row("client requests answered per run".into(), &|x| {
        f(x.requests, 0)
    }));
    let header: [&str; 4] = std::array::from_fn(|i| match i {
        0 => "per drain",
        _ => ps.get(i - 1).map_or("", |(p, _)| p.label()),
    });
    let table = table(header, &rows);
    // Which kinds failed, and how, per procedure (from this run's figures).
    let mut failures = Vec::new();
    for (p, x) in &ps {
        let kinds: Vec<String> = x
            .failed_by_kind
            .iter()
            .filter(|(_, s)| s.max > 0.0)
            .map(|(k, s)| {
                let label = k.label();
                // The tool's own classes, summed over the runs.
                let mut classes = std::collections::BTreeMap::<&str, u64>::new();
                for r in &x.runs {
                    for (c, n) in r.failed_detail.get(k).into_iter().flatten() {
                        *classes.entry(c.as_str()).or_default() += n;
                    }
                }
                let failing_runs = x
                    .runs
                    .iter()
                    .filter(|r| r.failed.get(k).is_some_and(|n| *n > 0))
                    .count();
                let how: Vec<String> = classes.iter().map(|(c, n)| format!("{c} {n}")).collect();
                format!(
                    "{label}: {} per drain, in {failing_runs} of {} runs{}",
                    mr(s, 0),
                    x.runs.len(),
                    if how.is_empty() {
                        String::new()
                    } else {
                        format!(
                            " (over all runs, by the tool's classes: {})",
                            how.join(", ")
                        )
                    }
                )
            })
            .collect();
        failures.push(format!(
            "- {}: {}.",
            p.label(),
            if kinds.is_empty() {
                "no client saw a failure in any run".to_owned()
            } else {
                format!("failures came from {}", kinds.join("; "))
            }
        ));
    }
    let plots: String = r
        .plots
        .iter()
        .map(|p| images(p.trim_end_matches(".png"), std::slice::from_ref(p)))
        .collect();
    let m = &r.method;
    let labels = LOADS.map(RequestKind::label);
    md.0.push_str(&fill(
        include_str!("../../templates/drain.md"),
        &[
            ("run", r.run.line()),
            ("loads", LOADS.len().to_string()),
            ("connections_per_load", m.connections_per_load.to_string()),
            ("load_seconds", m.load_seconds.to_string()),
            ("load_labels", labels.join("; ")),
            ("long_requests", m.long_requests.clone()),
            ("runs", m.runs.to_string()),
            ("nginx", m.nginx.clone()),
            ("table", table),
            ("failures", failures.join("\n")),
            ("plots", plots),
        ],
    ));
    true
}
