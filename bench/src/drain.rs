//! Part 4, drain: `lb drain` against the Nginx procedure people use today
//! (mark the upstream `down`, `nginx -s reload`, SIGTERM the Gunicorn
//! master), in the same lab under the same load: keep-alive and
//! fresh-connection clients, GET and POST, and long `/slow` and `/stream`
//! requests in flight. Each run drains web-2 and puts it back; the
//! procedures take turns, their order rotating from round to round.

mod nginx;
mod plan;
mod procedure;
mod render;

use std::{
    collections::{BTreeMap, BTreeSet},
    time::Instant,
};

use anyhow::{Context as _, Result, ensure};
use lb_lab::{BackendOpts, ConfigSpec, LbConfig, nginx::Nginx, scenario};
use serde::{Deserialize, Serialize};

pub use self::render::render;
use self::{
    nginx::Break,
    plan::{LOADS, Procedure, RequestKind},
    procedure::{RunFigures, Setup},
};
use crate::{
    Ctx,
    e2e::setup,
    report::RunInfo,
    stats::{Summary, median, round},
};

/// Runs of each procedure.
pub const RUNS: usize = 5;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Report {
    pub run: RunInfo,
    pub method: Method,
    pub nginx: ProcedureReport,
    pub lb: ProcedureReport,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lb_idle: Option<ProcedureReport>,
    #[serde(default)]
    pub plots: Vec<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Method {
    pub runs: u32,
    pub load_seconds: u64,
    pub connections_per_load: u32,
    /// What each load is.
    pub loads: BTreeMap<RequestKind, String>,
    pub long_requests: String,
    pub nginx: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ProcedureReport {
    /// Client-side failed requests per drain, all kinds: median over runs.
    pub failed: f64,
    pub failed_range: Summary,
    /// By kind (the loads' and the long requests').
    pub failed_by_kind: BTreeMap<RequestKind, Summary>,
    /// Client requests answered per run (median).
    pub requests: f64,
    /// Connections web-2 broke per drain: Nginx, from its error log (lines
    /// naming web-2: resets, premature closes, refused connects); lb, at
    /// least the larger of the client-side failures and the backend side
    /// (resets web-2 sent plus requests it saw but never answered).
    pub broken: Summary,
    pub broken_source: String,
    /// The backend-side count for both procedures alike.
    pub backend_side_broken: Summary,
    pub resets_sent: Summary,
    pub no_response: Summary,
    /// Nginx: its error log's breaks by kind.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub error_log: BTreeMap<Break, Summary>,
    pub last_new_conn_ms: Summary,
    pub until_empty_ms: Summary,
    pub master_exit_ms: Summary,
    pub sigterm_ms: Summary,
    pub long_on_target: Summary,
    pub runs: Vec<RunFigures>,
}

fn lb_spec(idle: bool) -> ConfigSpec {
    ConfigSpec {
        backend: BackendOpts {
            // The drain's deadline, far above what a run needs.
            drain_timeout: Some(std::time::Duration::from_secs(40)),
            // No health checks: their probes to a stopping backend would
            // add resets to web-2's count that no client caused (and lb does
            // not need them to drain).
            health: false,
            on_drain: idle,
            shutdown_when: idle.then(|| "idle".to_owned()),
            ..BackendOpts::default()
        },
        ..ConfigSpec::default()
    }
}

pub fn run(ctx: &Ctx) -> Result<Option<serde_json::Value>> {
    let started = Instant::now();
    let runs = std::env::var("LB_BENCH_DRAIN_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(RUNS);
    let lb = scenario::lb_binary()?;
    let lab = setup::lab("bench-drain")?;
    scenario::client_tw_reuse(&lab)?;
    let nginx = Nginx::start(
        &lab,
        lab.lb_ns(),
        "drain",
        &nginx::nginx_conf(&lab, None),
        &[80],
    )?;
    let (mut daemon, _mode) =
        scenario::start_daemon(&lab, &lb, LbConfig::render(&lab, &lb_spec(false)))?;
    let mut figures: BTreeMap<Procedure, Vec<RunFigures>> = BTreeMap::new();
    let result = (|| -> Result<()> {
        let mut idle_config = false;
        // LB_BENCH_DRAIN_ONLY=lb_idle,nginx: only these (working on the bench).
        let only = std::env::var("LB_BENCH_DRAIN_ONLY").unwrap_or_default();
        let procs: Vec<Procedure> = Procedure::ALL
            .into_iter()
            .filter(|p| only.is_empty() || only.split(',').any(|o| o == p.key()))
            .collect();
        let n = procs.len();
        for round in 0..runs {
            for i in 0..n {
                let p = procs[(i + round) % n];
                let want_idle = p == Procedure::LbIdle;
                if p != Procedure::Nginx && want_idle != idle_config {
                    let out = daemon.reload_with(&LbConfig::render(&lab, &lb_spec(want_idle)))?;
                    ensure!(
                        out.status.success(),
                        "lb reload: {}",
                        String::from_utf8_lossy(&out.stderr)
                    );
                    idle_config = want_idle;
                }
                println!("drain: run {}/{runs}: {}", round + 1, p.label());
                let mut s = Setup {
                    lab: &lab,
                    daemon: &mut daemon,
                    nginx: &nginx,
                };
                let f = procedure::run(&mut s, p)
                    .with_context(|| format!("run {}, {}", round + 1, p.label()))?;
                // The run's figures as they go into the JSON.
                println!("  {}", serde_json::to_string(&f)?);
                figures.entry(p).or_default().push(f);
            }
        }
        Ok(())
    })();
    drop(daemon);
    nginx.stop();
    lab.down()?;
    result?;
    let mut report = summarize(&figures, runs, ctx.run_info(0.0));
    report.plots = render::plots(&report, &ctx.plots);
    report.run = ctx.run_info(started.elapsed().as_secs_f64());
    Ok(Some(serde_json::to_value(report)?))
}

fn procedure_report(p: Procedure, runs: &[RunFigures]) -> ProcedureReport {
    let col = |f: &dyn Fn(&RunFigures) -> f64| runs.iter().map(f).collect::<Vec<f64>>();
    let total = |r: &RunFigures| r.failed.values().sum::<u64>() as f64;
    let failed_by_kind = LOADS
        .into_iter()
        .chain([RequestKind::Long])
        .map(|k| {
            let v = col(&|r| r.failed.get(&k).copied().unwrap_or(0) as f64);
            (k, Summary::rounded(&v, 1))
        })
        .collect();
    let backend_side = |r: &RunFigures| (r.resets_sent + r.no_response) as f64;
    let error_log_total = |r: &RunFigures| r.error_log.values().sum::<u64>() as f64;
    let log_kinds: BTreeSet<Break> = runs
        .iter()
        .flat_map(|r| r.error_log.keys().copied())
        .collect();
    let (broken, broken_source) = if p == Procedure::Nginx {
        (
            Summary::rounded(&col(&error_log_total), 1),
            "Nginx's error log: lines naming web-2 (connection reset, upstream prematurely \
             closed, connect() refused, broken pipe)"
                .to_owned(),
        )
    } else {
        // An L4 balancer cannot retry, and in an lb drain only web-2 changes:
        // every failure a client saw is a connection web-2 broke, and so is
        // every reset it sent (hey's keep-alive retries hide some). One break
        // can show both ways, so the larger of the two is a lower bound. (A
        // request Uvicorn had received but not started when it closed the
        // connection at shutdown ends with a FIN, no reset, no log line: only
        // the client sees it.)
        (
            Summary::rounded(&col(&|r| total(r).max(backend_side(r))), 1),
            "at least the larger of: the failures clients saw (all of them web-2's doing: \
             only it changes in an lb drain, and an L4 balancer cannot retry), and web-2's \
             side (TCP resets it sent plus requests its access log shows unanswered)"
                .to_owned(),
        )
    };
    ProcedureReport {
        failed: round(median(&col(&total)), 1),
        failed_range: Summary::rounded(&col(&total), 1),
        failed_by_kind,
        requests: round(median(&col(&|r| r.requests as f64)), 0),
        broken,
        broken_source,
        backend_side_broken: Summary::rounded(&col(&backend_side), 1),
        resets_sent: Summary::rounded(&col(&|r| r.resets_sent as f64), 1),
        no_response: Summary::rounded(&col(&|r| r.no_response as f64), 1),
        error_log: log_kinds
            .iter()
            .map(|k| {
                let v = col(&|r| r.error_log.get(k).copied().unwrap_or(0) as f64);
                (*k, Summary::rounded(&v, 1))
            })
            .collect(),
        last_new_conn_ms: Summary::rounded(&col(&|r| r.last_new_conn_ms), 1),
        until_empty_ms: Summary::rounded(&col(&|r| r.until_empty_ms), 0),
        master_exit_ms: Summary::rounded(&col(&|r| r.master_exit_ms), 0),
        sigterm_ms: Summary::rounded(&col(&|r| r.sigterm_ms), 1),
        long_on_target: Summary::rounded(&col(&|r| r.long_on_target as f64), 1),
        runs: runs
            .iter()
            .map(|r| RunFigures {
                last_new_conn_ms: round(r.last_new_conn_ms, 1),
                until_empty_ms: round(r.until_empty_ms, 1),
                master_exit_ms: round(r.master_exit_ms, 1),
                sigterm_ms: round(r.sigterm_ms, 1),
                command_returned_ms: round(r.command_returned_ms, 1),
                ..r.clone()
            })
            .collect(),
    }
}

fn summarize(figures: &BTreeMap<Procedure, Vec<RunFigures>>, runs: usize, run: RunInfo) -> Report {
    let get = |p: Procedure| {
        figures
            .get(&p)
            .map_or_else(|| procedure_report(p, &[]), |v| procedure_report(p, v))
    };
    Report {
        run,
        method: Method {
            runs: runs as u32,
            load_seconds: plan::LOAD_SECONDS,
            connections_per_load: plan::CONNECTIONS,
            loads: LOADS.iter().map(|&l| (l, l.label().to_owned())).collect(),
            long_requests: format!(
                "{} × {} each, started before the loads (30 s client timeout)",
                plan::LONG_EACH,
                plan::LONG_PATHS.join(" and ")
            ),
            nginx: scenario::nginx_version(),
        },
        nginx: get(Procedure::Nginx),
        lb: get(Procedure::Lb),
        lb_idle: figures
            .get(&Procedure::LbIdle)
            .map(|v| procedure_report(Procedure::LbIdle, v)),
        plots: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        keys::assert_documented,
        report::{Md, Results, sample_run},
    };

    fn fake(p: Procedure, i: u64) -> RunFigures {
        let mut f = RunFigures {
            requests: 40_000 + i,
            resets_sent: i,
            last_new_conn_ms: 40.0 + i as f64,
            until_empty_ms: 5000.0,
            master_exit_ms: 5100.0,
            sigterm_ms: 20.0,
            long_on_target: 4,
            ..RunFigures::default()
        };
        for l in LOADS {
            f.failed.insert(l, i % 2);
        }
        f.failed.insert(RequestKind::Long, 0);
        if p == Procedure::Nginx {
            f.error_log.insert(Break::Reset, 2 + i);
            f.failed_detail.insert(
                RequestKind::FreshPost,
                BTreeMap::from([("non_2xx".to_owned(), 1)]),
            );
        } else {
            f.outcome = "drained".into();
            f.command_returned_ms = 30.0;
        }
        f
    }

    #[test]
    // The fake runs count whole events: their medians are exact.
    #[allow(clippy::float_cmp)]
    fn report_is_documented_and_renders() {
        let figures: BTreeMap<Procedure, Vec<RunFigures>> = Procedure::ALL
            .iter()
            .map(|&p| (p, (0..5).map(|i| fake(p, i)).collect()))
            .collect();
        let mut r = summarize(&figures, 5, sample_run());
        r.plots = vec!["drain_failures.png".into()];
        assert_eq!(r.nginx.error_log[&Break::Reset].median, 4.0);
        assert_eq!(r.lb.broken.median, 4.0);
        let v = serde_json::to_value(&r).unwrap();
        assert_documented("drain", &v, &[crate::keys::DRAIN]);
        let mut results = Results::load(std::path::Path::new("/nonexistent/benchmarks.json"));
        results.set(crate::Part::Drain, v);
        let mut md = Md(String::new());
        assert!(render(&results, &mut md));
        assert!(md.0.contains("connections web-2 broke"), "{}", md.0);
    }

    /// Maps keyed by these enums list in the JSON's (alphabetical) order, so
    /// the report renders as it did from string keys.
    #[test]
    fn keys_are_declared_in_json_order() {
        fn check<K: Ord + serde::Serialize>(keys: impl IntoIterator<Item = K>) {
            let m: BTreeMap<K, u8> = keys.into_iter().map(|k| (k, 0)).collect();
            let json = serde_json::to_value(&m).unwrap();
            assert_eq!(serde_json::to_string(&m).unwrap(), json.to_string());
        }
        check(LOADS.into_iter().chain([RequestKind::Long]));
        check([
            Break::BrokenPipe,
            Break::Other,
            Break::PrematureClose,
            Break::Refused,
            Break::Reset,
        ]);
    }
}
