//! The fault suite's rig: one lab with a DSR VIP and a NAT VIP side by side,
//! the daemon, and the backends' processes. Every fault is applied once and
//! checked on both forwarding modes: loads ([`crate::load`]) and long streams
//! ([`crate::streams`]) run on both VIPs, aimed at one backend of each.

use std::{
    net::Ipv4Addr,
    thread,
    time::{Duration, Instant},
};

use lb_lab::{ConfigSpec, Daemon, Lab, LabSpec, LbConfig};
use lb_tests::lab_support::{self, lb_binary, new_flows, poll};

const READY: Duration = Duration::from_secs(30);

/// One forwarding mode of the rig: its VIP and the backend faults aim at.
#[derive(Clone, Copy, Debug)]
pub struct Mode {
    /// "DSR" or "NAT", in the printed figures.
    pub label: &'static str,
    /// The VIP's name in the config and in `lb status`.
    pub vip_name: &'static str,
    pub vip: Ipv4Addr,
    /// The backend each fault is aimed at.
    pub target: &'static str,
}

impl Mode {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.vip)
    }
}

/// web-1..web-3 are DSR backends (the VIP on `lo`, port 80) on VIP "web";
/// web-4 and web-5 NAT backends (Gunicorn on :8000 only) on VIP "app".
const BACKENDS: usize = 5;
const NAT_BACKENDS: usize = 2;
const DSR_TARGET: &str = "web-2";
const NAT_TARGET: &str = "web-5";

/// A lab of five backends, three behind a DSR VIP and two behind a NAT VIP,
/// with the daemon running and every backend active.
pub struct Rig {
    pub lab: Lab,
    pub daemon: Daemon,
    pub modes: [Mode; 2],
}

impl Rig {
    /// `edit` may change the rendered config before the daemon starts.
    pub fn up(prefix: &str, edit: impl FnOnce(&mut LbConfig)) -> Rig {
        Self::build(prefix, edit, None)
    }

    /// As [`Rig::up`], with the targets' Gunicorn restarted on
    /// `--keep-alive` `keep_alive` before the daemon starts.
    pub fn up_with_keep_alive(prefix: &str, keep_alive: Duration) -> Rig {
        Self::build(prefix, |_| {}, Some(keep_alive))
    }

    fn build(
        prefix: &str,
        edit: impl FnOnce(&mut LbConfig),
        targets_keep_alive: Option<Duration>,
    ) -> Rig {
        assert!(lb_lab::is_root(), "the fault tests need root");
        let spec = LabSpec {
            prefix: prefix.into(),
            backends: BACKENDS,
            ipv6: false,
        };
        let lab = Lab::up_nat(spec, NAT_BACKENDS).expect("lab up");
        let modes = [
            Mode {
                label: "DSR",
                vip_name: "web",
                vip: lab.vip(),
                target: DSR_TARGET,
            },
            Mode {
                label: "NAT",
                vip_name: "app",
                vip: lab.nat_vip().expect("the lab has a NAT VIP"),
                target: NAT_TARGET,
            },
        ];
        for m in &modes {
            let nat = lab.backend(m.target).expect("target").is_nat();
            assert_eq!(
                nat,
                m.label == "NAT",
                "{} is a {} backend",
                m.target,
                m.label
            );
        }
        if let Some(keep_alive) = targets_keep_alive {
            for m in &modes {
                let target = lab.backend(m.target).expect("target");
                target.set_keep_alive(keep_alive);
                target.restart().expect("target restarts");
            }
        }
        let mut config = LbConfig::render(&lab, &ConfigSpec::default());
        edit(&mut config);
        let daemon = Daemon::start_with(&lab, &lb_binary(), config).expect("daemon starts");
        daemon.wait_ready(READY).expect("daemon answers");
        daemon.wait_all_active(READY).expect("backends active");
        let rig = Rig { lab, daemon, modes };
        let status = rig.status();
        for m in &rig.modes {
            let forward = if m.label == "NAT" { "nat" } else { "dsr" };
            assert_eq!(rig.vip(m)["forward"], forward, "{status:#}");
        }
        rig
    }

    /// Stops the daemon, tears the lab down, checks nothing is left behind.
    pub fn down(self) {
        let Rig { lab, daemon, .. } = self;
        lab_support::down(lab, daemon);
    }

    pub fn status(&self) -> serde_json::Value {
        self.daemon.status().expect("lb status")
    }

    /// The mode's VIP in `lb status --json`.
    pub fn vip(&self, mode: &Mode) -> serde_json::Value {
        let status = self.status();
        status["vips"]
            .as_array()
            .and_then(|v| v.iter().find(|v| v["name"] == mode.vip_name))
            .cloned()
            .unwrap_or_else(|| panic!("no VIP {} in {status:#}", mode.vip_name))
    }

    /// The mode's VIP's `repicked` counter.
    pub fn repicked(&self, mode: &Mode) -> u64 {
        self.vip(mode)["repicked"].as_u64().unwrap_or(0)
    }

    /// Each target's `new_flows` counter, in the order of [`Rig::modes`].
    pub fn target_new_flows(&self) -> [u64; 2] {
        let all = new_flows(&self.daemon);
        self.modes.map(|m| all[m.target])
    }

    /// Polls until the loads opened connections to both targets: the fault
    /// then meets traffic on both VIPs.
    pub fn wait_load_on_targets(&self) {
        let before = self.target_new_flows();
        poll("load on both targets", Duration::from_secs(15), || {
            let now = self.target_new_flows();
            (0..2).all(|i| now[i] >= before[i] + 5).then_some(())
        });
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

pub fn sleep_s(s: f64) {
    thread::sleep(Duration::from_secs_f64(s));
}
