//! The three loads every fault happens under, on both VIPs at once.

use std::time::Duration;

use lb_lab::{LoadResult, LoadRun, LoadSpec, Tool};
use lb_tests::lab_support::{self, print_load};

use crate::support::{Mode, Rig};

/// The loads, running.
pub struct Load {
    runs: Vec<(Mode, &'static str, LoadRun)>,
}

/// One load's outcome.
pub struct Ran {
    pub mode: Mode,
    pub label: &'static str,
    pub result: LoadResult,
}

impl Load {
    /// Keep-alive GET (wrk, which retries nothing), fresh-connection GET and
    /// keep-alive POST (hey, 1 KB bodies), for `secs` seconds, on each VIP;
    /// few connections each (a 2-core machine runs the clients, the LB and
    /// five Gunicorns).
    pub fn start(rig: &Rig, secs: f64) -> Load {
        let mut runs = Vec::new();
        for mode in rig.modes {
            let spec = |tool, keepalive, connections, post_body| {
                let mut s = LoadSpec::new(tool, mode.url("/"));
                s.keepalive = keepalive;
                s.connections = connections;
                s.threads = 1;
                s.post_body = post_body;
                s.duration = Duration::from_secs_f64(secs);
                s
            };
            for (label, s) in [
                ("keep-alive GET (wrk)", spec(Tool::Wrk, true, 2, None)),
                (
                    "fresh-connection GET (hey)",
                    spec(Tool::Hey, false, 3, None),
                ),
                (
                    "keep-alive POST (hey)",
                    spec(Tool::Hey, true, 2, Some(1024)),
                ),
            ] {
                let run = LoadRun::spawn(&rig.lab, s).expect("load tool starts");
                runs.push((mode, label, run));
            }
        }
        Load { runs }
    }

    /// Waits for every run; prints each.
    pub fn finish(self) -> Vec<Ran> {
        self.runs
            .into_iter()
            .map(|(mode, label, run)| {
                let result = run.join().expect("load run");
                print_load(&format!("  {} {label}", mode.label), &result);
                Ran {
                    mode,
                    label,
                    result,
                }
            })
            .collect()
    }
}

/// Requests and failed (or non-2xx) requests of the runs on `mode`'s VIP.
pub fn totals(results: &[Ran], mode: &Mode) -> (u64, u64) {
    results
        .iter()
        .filter(|r| r.mode.label == mode.label)
        .fold((0, 0), |(n, f), r| {
            (
                n + r.result.requests,
                f + r.result.errors.total() + r.result.non_2xx,
            )
        })
}

/// Every run made requests, and none failed.
pub fn assert_no_failure(results: &[Ran]) {
    for r in results {
        lab_support::assert_clean(&format!("{} {}", r.mode.label, r.label), &r.result);
    }
}
