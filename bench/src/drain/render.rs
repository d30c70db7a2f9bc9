//! Part 4's section of the report, and its plot.

use std::path::Path;

use super::{
    ProcedureReport, Report,
    procedure::{LOADS, LONG_KEY, Procedure},
};
use crate::{
    Part,
    plot::{self, Bar},
    report::{Md, Results, f},
    stats::Summary,
};

// Exact on purpose: a range is shown only when the runs differed at all.
#[allow(clippy::float_cmp)]
fn mr(s: &Summary, digits: usize) -> String {
    if s.min == s.max {
        f(s.median, digits)
    } else {
        format!(
            "{} ({}–{})",
            f(s.median, digits),
            f(s.min, digits),
            f(s.max, digits)
        )
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
    md.run(&r.run);
    let m = &r.method;
    md.line(format!(
        "Method: the lab's three Gunicorn + Uvicorn + FastAPI backends (2 workers each, \
         `--graceful-timeout 30`, `--keep-alive 5`). Each run drains web-2 under the same \
         load, then restarts it and puts it back: {} load processes of {} connections for \
         {} s ({}), plus {}, all from the client namespace. The command comes once web-2 has \
         served 40 of the load's requests. {} runs of each procedure, taking turns, the \
         order rotating from round to round.",
        LOADS.len(),
        m.connections_per_load,
        m.load_seconds,
        LOADS.iter().map(|l| l.label).collect::<Vec<_>>().join("; "),
        m.long_requests,
        m.runs
    ));
    md.blank();
    md.line(format!(
        "**Nginx** ({}): the HTTP proxy on the LB namespace's address, `upstream` block of \
         the three backends with `keepalive 32`, retries at their defaults \
         (`proxy_next_upstream error timeout`: a GET that breaks is re-sent to another \
         backend, a POST already sent is not), error log at `warn`. The procedure: rewrite \
         the upstream with web-2 `down`, `nginx -s reload`, SIGTERM to web-2's Gunicorn \
         master at once, wait for it to exit. **lb**: the release daemon, generic XDP, VIP \
         198.51.100.10; `lb drain web-2` then `lb drain web-2 --wait`; web-2's shutdown \
         action is SIGTERM to its Gunicorn master (default mode: `shutdown_when = \"start\"`, \
         `signal_delay` 1 s); **lb_idle** adds `on_drain` (the app answers `Connection: \
         close` from then on) and `shutdown_when = \"idle\"`. The daemon's health checks are \
         off in this part: their probes of a stopping backend would add resets no client \
         caused. After each lb run: `lb enable web-2`.",
        m.nginx
    ));
    md.blank();
    md.line(
        "What is counted. **Failed**: requests the clients saw fail (no response, or not \
         2xx), and long requests that did not complete with their whole body. **Broken**: \
         connections web-2 broke; for Nginx the lines of its error log naming web-2 (each \
         is a request Nginx had to retry or fail); for lb at least the larger of the \
         failures clients saw (in an lb drain only web-2 changes, and an L4 balancer cannot \
         retry, so each is web-2's doing) and the backend side: TCP resets web-2 sent (its \
         namespace's `OutRsts`) plus requests its access log shows seen but unanswered. The \
         backend-side count is given for every procedure; it misses one kind of break: a \
         request Uvicorn had read but not started when it closed an idle-looking \
         connection at shutdown ends with a FIN, no reset and no log line. Clients open \
         connections with `net.ipv4.tcp_tw_reuse = 1` (the client namespace), as load \
         generators do: without it, the TIME-WAIT sockets of earlier runs' fresh \
         connections exhausted connect()'s ports and slowed whichever runs came later. **Last new \
         connection**: the command to the first request of the last connection web-2 saw \
         open (its access log; negative: none came after the command). **Until empty**: \
         the command to web-2 having no connections left (Nginx: its master exited; lb: the \
         drain ended, lb's own `finished_at`).",
    );
    md.blank();
    md.line("### Per drain (median, range over runs)");
    md.blank();
    let ps = procedures(&r);
    let mut rows: Vec<[String; 4]> = Vec::new();
    let row = |name: String, g: &dyn Fn(&ProcedureReport) -> String| -> [String; 4] {
        let mut cells = vec![name];
        for (_, x) in &ps {
            cells.push(g(x));
        }
        while cells.len() < 4 {
            cells.push(String::new());
        }
        [
            cells[0].clone(),
            cells[1].clone(),
            cells[2].clone(),
            cells[3].clone(),
        ]
    };
    rows.push(row("**failed requests, all kinds**".into(), &|x| {
        format!("**{}**", mr(&x.failed_range, 0))
    }));
    for l in LOADS {
        rows.push(row(format!("failed: {}", l.label), &|x| {
            x.failed_by_kind
                .get(l.key)
                .map_or_else(String::new, |s| mr(s, 0))
        }));
    }
    rows.push(row("failed: long requests incomplete".into(), &|x| {
        x.failed_by_kind
            .get(LONG_KEY)
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
            .map(|(k, s)| format!("{k} {}", mr(s, 0)))
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
    let mut header = vec!["per drain".to_owned()];
    header.extend(ps.iter().map(|(p, _)| p.label().to_owned()));
    while header.len() < 4 {
        header.push(String::new());
    }
    let h: Vec<&str> = header.iter().map(String::as_str).collect();
    md.table([h[0], h[1], h[2], h[3]], &rows);
    // Which kinds failed, and how, per procedure (from this run's figures).
    for (p, x) in &ps {
        let kinds: Vec<String> = x
            .failed_by_kind
            .iter()
            .filter(|(_, s)| s.max > 0.0)
            .map(|(k, s)| {
                let label = LOADS
                    .iter()
                    .find(|l| l.key == k.as_str())
                    .map_or("long requests", |l| l.label);
                // The tool's own classes, summed over the runs.
                let mut classes = std::collections::BTreeMap::<&str, u64>::new();
                for r in &x.runs {
                    for (c, n) in r.failed_detail.get(k.as_str()).into_iter().flatten() {
                        *classes.entry(c.as_str()).or_default() += n;
                    }
                }
                let failing_runs = x
                    .runs
                    .iter()
                    .filter(|r| r.failed.get(k.as_str()).is_some_and(|n| *n > 0))
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
        md.line(format!(
            "- {}: {}.",
            p.label(),
            if kinds.is_empty() {
                "no client saw a failure in any run".to_owned()
            } else {
                format!("failures came from {}", kinds.join("; "))
            }
        ));
    }
    md.blank();
    for p in &r.plots {
        md.image(p.trim_end_matches(".png"), p);
    }
    true
}
