//! CPU accounting of a run: the whole machine (/proc/stat, every CPU), a set
//! of processes (/proc/PID/stat utime + stime), and a BPF program (the
//! kernel's run-time statistics, `run_time_ns` / `run_cnt`).

use std::{path::Path, process::Command, time::Duration};

use anyhow::{Context as _, Result, ensure};

/// Clock ticks per second of /proc's CPU times (USER_HZ).
pub fn ticks_per_s() -> f64 {
    // SAFETY: sysconf only reads a system value.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 { t as f64 } else { 100.0 }
}

/// The machine's CPU time from /proc/stat's `cpu` line (all CPUs), in ticks.
#[derive(Clone, Copy, Debug, Default)]
pub struct MachineCpu {
    /// user + nice + system + irq + softirq (guest time is inside user).
    pub busy: u64,
    /// Time other guests took from this VM.
    pub steal: u64,
    /// Everything, idle and iowait included.
    pub total: u64,
}

impl MachineCpu {
    pub fn now() -> Result<Self> {
        let text = std::fs::read_to_string("/proc/stat").context("reading /proc/stat")?;
        let line = text
            .lines()
            .find(|l| l.starts_with("cpu "))
            .context("no cpu line in /proc/stat")?;
        let v: Vec<u64> = line
            .split_whitespace()
            .skip(1)
            .map(|x| x.parse().unwrap_or(0))
            .collect();
        ensure!(v.len() >= 8, "short cpu line in /proc/stat: {line}");
        // user nice system idle iowait irq softirq steal [guest guest_nice]
        Ok(Self {
            busy: v[0] + v[1] + v[2] + v[5] + v[6],
            steal: v[7],
            total: v[..8].iter().sum(),
        })
    }

    /// Busy CPU time since `earlier`.
    pub fn busy_since(&self, earlier: &MachineCpu) -> Duration {
        ticks(self.busy.saturating_sub(earlier.busy))
    }

    pub fn steal_since(&self, earlier: &MachineCpu) -> Duration {
        ticks(self.steal.saturating_sub(earlier.steal))
    }

    pub fn total_since(&self, earlier: &MachineCpu) -> Duration {
        ticks(self.total.saturating_sub(earlier.total))
    }
}

fn ticks(n: u64) -> Duration {
    Duration::from_secs_f64(n as f64 / ticks_per_s())
}

/// utime + stime of `pid` in ticks; None once it is gone.
pub fn process_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may hold spaces: split after it.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // Fields 3.. of proc(5), so utime (14) and stime (15) are at 11 and 12.
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

/// CPU time of a fixed set of processes, for a before/after difference.
pub struct ProcessCpu(Vec<(u32, u64)>);

impl ProcessCpu {
    pub fn now(pids: &[u32]) -> Self {
        Self(
            pids.iter()
                .map(|&p| (p, process_ticks(p).unwrap_or(0)))
                .collect(),
        )
    }

    /// CPU the same processes used since `earlier` (a process gone since
    /// counts what it had at `earlier`: nothing more).
    pub fn since(&self, earlier: &ProcessCpu) -> Duration {
        let n: u64 = self
            .0
            .iter()
            .map(|(p, t)| {
                let before = earlier
                    .0
                    .iter()
                    .find(|(q, _)| q == p)
                    .map_or(*t, |(_, b)| *b);
                t.saturating_sub(before)
            })
            .sum();
        ticks(n)
    }
}

/// A BPF program's run-time statistics.
#[derive(Clone, Copy, Debug, Default)]
pub struct ProgCounters {
    pub run_time: Duration,
    pub run_count: u64,
}

impl ProgCounters {
    /// The counters of program `id`.
    pub fn of(id: u32) -> Result<Self> {
        for info in aya::programs::loaded_programs() {
            let info = info.context("listing BPF programs")?;
            if info.id() == id {
                return Ok(Self {
                    run_time: info.run_time(),
                    run_count: info.run_count(),
                });
            }
        }
        anyhow::bail!("no BPF program with id {id}")
    }

    pub fn since(&self, earlier: &ProgCounters) -> ProgCounters {
        ProgCounters {
            run_time: self.run_time.saturating_sub(earlier.run_time),
            run_count: self.run_count.saturating_sub(earlier.run_count),
        }
    }
}

/// The program id behind a pinned link (`bpftool link show pinned PATH`).
pub fn prog_of_pinned_link(pin: &Path) -> Result<u32> {
    /// What the bench reads of bpftool's JSON.
    #[derive(serde::Deserialize)]
    struct Link {
        prog_id: u32,
    }
    let out = Command::new("bpftool")
        .args(["link", "show", "pinned"])
        .arg(pin)
        .arg("--json")
        .output()
        .context("running bpftool (Debian package bpftool)")?;
    ensure!(
        out.status.success(),
        "bpftool link show pinned {}: {}",
        pin.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let link: Link = serde_json::from_slice(&out.stdout).context("no prog_id from bpftool")?;
    Ok(link.prog_id)
}
