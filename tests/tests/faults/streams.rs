//! Long streams (`/stream?seconds=N`, 10 chunks) through both VIPs, some of
//! each on that mode's target, and the per-mode figures every fault prints.

use std::time::Duration;

use lb_lab::{Request, client::InFlight};
use lb_tests::lab_support::{flows_json, poll};

use crate::{
    load::{Ran, totals},
    support::{Mode, Rig},
};

/// The streams of every mode, running.
pub struct Streams {
    path: String,
    sets: Vec<(Mode, Vec<InFlight>)>,
}

/// What became of one mode's streams.
#[derive(Debug)]
pub struct StreamOutcome {
    pub mode: Mode,
    pub total: usize,
    pub complete: usize,
    /// Complete streams the mode's target served.
    pub complete_on_target: usize,
    /// Why the others broke.
    pub broken: Vec<String>,
}

fn live(rig: &Rig, backend: Option<&str>) -> usize {
    flows_json(&rig.daemon, backend)
        .iter()
        .filter(|f| f["state"] == "live")
        .count()
}

/// For each mode, opens `/stream?seconds=N` requests one by one until `lb
/// flows` shows `want` of them on its target (a third of DSR's, half of
/// NAT's land there; 30 tries leave a chance of about 1e-5 of too few).
/// Nothing else may open connections through the VIPs meanwhile.
pub fn open_streams(rig: &Rig, seconds: u32, want: usize) -> Streams {
    let path = format!("/stream?seconds={seconds}");
    let timeout = Duration::from_secs(u64::from(seconds) * 4 + 20);
    let sets = rig
        .modes
        .iter()
        .map(|mode| {
            let (all_before, target_before) = (live(rig, None), live(rig, Some(mode.target)));
            let mut requests = Vec::new();
            for _ in 0..30 {
                let url = mode.url(&path);
                requests.push(rig.lab.spawn_request(Request::get(url).timeout(timeout)));
                let n = requests.len();
                poll("the stream's flow", Duration::from_secs(10), || {
                    (live(rig, None) >= all_before + n).then_some(())
                });
                let on = live(rig, Some(mode.target)).saturating_sub(target_before);
                if on >= want {
                    println!("  {} {path}: {n} open, {on} on {}", mode.label, mode.target);
                    return (*mode, requests);
                }
            }
            panic!("fewer than {want} of 30 streams landed on {}", mode.target);
        })
        .collect();
    Streams { path, sets }
}

impl Streams {
    /// Joins every stream: complete means a 2xx with all 10 chunks.
    pub fn finish(self) -> Vec<StreamOutcome> {
        let path = self.path;
        self.sets
            .into_iter()
            .map(|(mode, requests)| {
                let mut out = StreamOutcome {
                    mode,
                    total: requests.len(),
                    complete: 0,
                    complete_on_target: 0,
                    broken: Vec::new(),
                };
                for r in requests {
                    let r = r.join().expect("curl ran");
                    let name = r.body.split(' ').next().unwrap_or_default().to_owned();
                    let want: String = (0..10).map(|i| format!("{name} chunk {i}\n")).collect();
                    if r.ok() && r.body == want {
                        out.complete += 1;
                        out.complete_on_target += usize::from(name == mode.target);
                    } else {
                        out.broken.push(format!("{r:?}"));
                    }
                }
                println!(
                    "  {} {path}: {} of {} complete ({} of them on {}), {} broken",
                    mode.label,
                    out.complete,
                    out.total,
                    out.complete_on_target,
                    mode.target,
                    out.broken.len()
                );
                for b in &out.broken {
                    println!("    broken: {b}");
                }
                out
            })
            .collect()
    }
}

/// Prints one line per mode: `fault [MODE]: N requests, F failed; streams C
/// of T complete (K on TARGET)`, then what `extra` says of that mode.
pub fn report(
    fault: &str,
    results: &[Ran],
    streams: &[StreamOutcome],
    extra: impl Fn(&Mode) -> String,
) {
    for s in streams {
        let (requests, failures) = totals(results, &s.mode);
        println!(
            "  {fault} [{}]: {requests} requests, {failures} failed; streams {} of {} \
             complete ({} on {}), {} broken{}",
            s.mode.label,
            s.complete,
            s.total,
            s.complete_on_target,
            s.mode.target,
            s.broken.len(),
            extra(&s.mode)
        );
    }
}

/// No stream broke, on any mode, and each mode's target completed at least
/// `on_target` of them.
pub fn assert_unbroken(streams: &[StreamOutcome], on_target: usize) {
    for s in streams {
        assert!(
            s.broken.is_empty(),
            "{} broken streams: {:?}",
            s.mode.label,
            s.broken
        );
        assert!(
            s.complete_on_target >= on_target,
            "{}: {} streams on {} completed, want {on_target}",
            s.mode.label,
            s.complete_on_target,
            s.mode.target
        );
    }
}
