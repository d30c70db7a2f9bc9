//! The fault suite's rig: a lab with the daemon, the three loads, long
//! streams placed on the affected backend, and the backend's processes.

use std::{
    thread,
    time::{Duration, Instant},
};

use lb_lab::{
    ConfigSpec, Daemon, Lab, LabSpec, LbConfig, LoadResult, LoadRun, LoadSpec, Request, Tool,
    client::InFlight,
};
use lb_tests::lab_support::{self, flows_json, lb_binary, poll, print_load};

/// The backend each fault is aimed at.
pub const TARGET: &str = "web-2";
const READY: Duration = Duration::from_secs(30);

/// A lab of three backends with the daemon running, every backend active.
pub struct Rig {
    pub lab: Lab,
    pub daemon: Daemon,
}

impl Rig {
    /// `edit` may change the rendered config before the daemon starts.
    pub fn up(prefix: &str, edit: impl FnOnce(&mut LbConfig)) -> Rig {
        assert!(lb_lab::is_root(), "the fault tests need root");
        let lab = Lab::up(LabSpec {
            prefix: prefix.into(),
            backends: 3,
            ipv6: false,
        })
        .expect("lab up");
        let mut config = LbConfig::render(&lab, &ConfigSpec::default());
        edit(&mut config);
        let daemon = Daemon::start_with(&lab, &lb_binary(), config).expect("daemon starts");
        daemon.wait_ready(READY).expect("daemon answers");
        daemon.wait_all_active(READY).expect("backends active");
        Rig { lab, daemon }
    }

    /// Stops the daemon, tears the lab down, checks nothing is left behind.
    pub fn down(self) {
        let Rig { lab, daemon } = self;
        lab_support::down(lab, daemon);
    }

    pub fn status(&self) -> serde_json::Value {
        self.daemon.status().expect("lb status")
    }
}

/// The three loads a fault happens under, running together.
pub struct Load {
    runs: Vec<(&'static str, LoadRun)>,
}

impl Load {
    /// Keep-alive GET (wrk, which retries nothing), fresh-connection GET and
    /// keep-alive POST (hey, 1 KB bodies), for `secs` seconds; few
    /// connections each (a 2-core machine runs the client, the LB and three
    /// Gunicorns).
    pub fn start(lab: &Lab, secs: f64) -> Load {
        let spec = |tool, keepalive, connections, post_body| {
            let mut s = LoadSpec::new(tool, lab.vip_url("/"));
            s.keepalive = keepalive;
            s.connections = connections;
            s.threads = 1;
            s.post_body = post_body;
            s.duration = Duration::from_secs_f64(secs);
            s
        };
        let runs = [
            ("keep-alive GET (wrk)", spec(Tool::Wrk, true, 2, None)),
            (
                "fresh-connection GET (hey)",
                spec(Tool::Hey, false, 3, None),
            ),
            (
                "keep-alive POST (hey)",
                spec(Tool::Hey, true, 2, Some(1024)),
            ),
        ]
        .into_iter()
        .map(|(label, s)| (label, LoadRun::spawn(lab, s).expect("load tool starts")))
        .collect();
        Load { runs }
    }

    /// Waits for every run; prints each.
    pub fn finish(self) -> Vec<(&'static str, LoadResult)> {
        self.runs
            .into_iter()
            .map(|(label, run)| {
                let r = run.join().expect("load run");
                print_load(&format!("  {label}"), &r);
                (label, r)
            })
            .collect()
    }
}

/// Requests and failed (or non-2xx) requests over every run.
pub fn totals(results: &[(&str, LoadResult)]) -> (u64, u64) {
    results.iter().fold((0, 0), |(n, f), (_, r)| {
        (n + r.requests, f + r.errors.total() + r.non_2xx)
    })
}

/// Every run made requests, and none failed.
pub fn assert_no_failure(results: &[(&str, LoadResult)]) {
    for (label, r) in results {
        lab_support::assert_clean(label, r);
    }
}

/// Long streams through the VIP, some of them on [`TARGET`].
pub struct Streams {
    path: String,
    requests: Vec<InFlight>,
}

/// What became of the streams.
#[derive(Debug, Default)]
pub struct StreamOutcome {
    pub total: usize,
    pub complete: usize,
    /// Complete streams [`TARGET`] served.
    pub complete_on_target: usize,
    /// Why the others broke.
    pub broken: Vec<String>,
}

/// Opens `/stream?seconds=N` requests one by one until `lb flows` shows
/// `want` of them on [`TARGET`] (a third land there; 30 tries leave a
/// chance of about 1e-5 of too few). Nothing else may open connections
/// through the VIP meanwhile.
pub fn open_streams(rig: &Rig, seconds: u32, want: usize) -> Streams {
    let path = format!("/stream?seconds={seconds}");
    let live = |backend| {
        flows_json(&rig.daemon, backend)
            .iter()
            .filter(|f| f["state"] == "live")
            .count()
    };
    let (all_before, target_before) = (live(None), live(Some(TARGET)));
    let mut requests = Vec::new();
    for _ in 0..30 {
        let url = rig.lab.vip_url(&path);
        let timeout = Duration::from_secs(u64::from(seconds) * 4 + 20);
        requests.push(rig.lab.spawn_request(Request::get(url).timeout(timeout)));
        let n = requests.len();
        poll("the stream's flow", Duration::from_secs(10), || {
            (live(None) >= all_before + n).then_some(())
        });
        let on = live(Some(TARGET)).saturating_sub(target_before);
        if on >= want {
            println!("  {path}: {n} open, {on} on {TARGET}");
            return Streams { path, requests };
        }
    }
    panic!("fewer than {want} of 30 streams landed on {TARGET}");
}

impl Streams {
    /// Joins every stream: complete means a 2xx with all 10 chunks.
    pub fn finish(self) -> StreamOutcome {
        let mut out = StreamOutcome {
            total: self.requests.len(),
            ..Default::default()
        };
        for r in self.requests {
            let r = r.join().expect("curl ran");
            let name = r.body.split(' ').next().unwrap_or_default().to_owned();
            let want: String = (0..10).map(|i| format!("{name} chunk {i}\n")).collect();
            if r.ok() && r.body == want {
                out.complete += 1;
                if name == TARGET {
                    out.complete_on_target += 1;
                }
            } else {
                out.broken.push(format!("{r:?}"));
            }
        }
        println!(
            "  {}: {} of {} complete ({} of them on {TARGET}), {} broken",
            self.path,
            out.complete,
            out.total,
            out.complete_on_target,
            out.broken.len()
        );
        for b in &out.broken {
            println!("    broken: {b}");
        }
        out
    }
}

/// The pids of a backend's Gunicorn: the master and its workers.
pub fn gunicorn_pids(master: u32) -> Vec<i32> {
    let mut pids = vec![master.cast_signed()];
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // "pid (comm) state ppid ...": comm may hold spaces, so after the last ')'.
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        if ppid == Some(master) {
            pids.push(pid);
        }
    }
    pids
}

/// Processes stopped with SIGSTOP, continued (SIGCONT) when dropped, also
/// when a test fails half-way.
pub struct Frozen(Vec<i32>);

impl Frozen {
    pub fn stop(pids: Vec<i32>) -> Frozen {
        for &pid in &pids {
            // SAFETY: plain kill(2) on pids of processes this test started.
            unsafe { libc::kill(pid, libc::SIGSTOP) };
        }
        Frozen(pids)
    }
}

impl Drop for Frozen {
    fn drop(&mut self) {
        for &pid in &self.0 {
            // SAFETY: as above.
            unsafe { libc::kill(pid, libc::SIGCONT) };
        }
    }
}

/// A backend's `state` field, polled until `want` (at most `timeout`);
/// returns how long it took.
pub fn wait_state(rig: &Rig, backend: &str, want: &str, timeout: Duration) -> Duration {
    let t = Instant::now();
    lab_support::wait_backend(&rig.daemon, backend, timeout, want, |b| b["state"] == want);
    t.elapsed()
}

/// The VIP's `repicked` counter.
pub fn repicked(rig: &Rig) -> u64 {
    rig.status()["vips"][0]["repicked"].as_u64().unwrap_or(0)
}

pub fn sleep_s(s: f64) {
    thread::sleep(Duration::from_secs_f64(s));
}
