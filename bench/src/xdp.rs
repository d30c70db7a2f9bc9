//! Driving XDP programs through BPF_PROG_TEST_RUN, and the kernel's own
//! run-time statistics.
//!
//! Facts this module builds on (docs/toolchain.md, and net/bpf/test_run.c):
//! with `repeat > 1` the kernel runs the program on the same buffer without
//! resetting it, and reports the mean time per run truncated to whole ns;
//! such a call also costs ~20 ms of wall time (the XDP dispatcher is swapped
//! for it), whatever the count. With `repeat = 1` the reported time also
//! holds the call's own overhead (timer reads, the indirect call), which the
//! benchmark measures on the floor program and subtracts.

use std::{os::fd::OwnedFd, time::Duration};

use anyhow::{Context as _, Result, bail, ensure};
use aya::programs::{TestRun as _, TestRunOptions, Xdp};
use serde::{Deserialize, Serialize};

/// `enum xdp_action`.
pub const XDP_PASS: u32 = 2;
pub const XDP_TX: u32 = 3;

/// What one test-run call gave.
pub struct Run {
    pub verdict: u32,
    /// Mean ns per run as the kernel reports it (whole ns, truncated).
    pub ns: u32,
    pub out_len: usize,
}

/// Runs `prog` on `data` `repeat` times; the output frame lands in `out`,
/// which must be at least as large as `data`.
pub fn test_run(prog: &Xdp, data: &[u8], repeat: u32, out: &mut [u8]) -> Result<Run> {
    ensure!(
        out.len() >= data.len(),
        "output buffer smaller than the frame"
    );
    let r = prog
        .test_run(TestRunOptions {
            data_in: Some(data),
            data_out: Some(out),
            repeat,
            ..TestRunOptions::new()
        })
        .context("BPF_PROG_TEST_RUN")?;
    Ok(Run {
        verdict: r.return_value,
        ns: u32::try_from(r.duration.as_nanos()).unwrap_or(u32::MAX),
        out_len: r.data_size_out as usize,
    })
}

/// The kernel's counters for `prog`: total run time and run count. They only
/// move while run-time statistics are enabled ([`RunTimeStats`]).
pub fn prog_stats(prog: &Xdp) -> Result<(Duration, u64)> {
    let info = prog.info().context("reading the program's info")?;
    Ok((info.run_time(), info.run_count()))
}

/// Kernel run-time statistics (BPF_ENABLE_STATS), on while this value lives.
pub struct RunTimeStats {
    _fd: OwnedFd,
}

impl RunTimeStats {
    pub fn enable() -> Result<Self> {
        let fd = aya::sys::enable_stats(aya::sys::Stats::RunTime)
            .context("BPF_ENABLE_STATS(BPF_STATS_RUN_TIME)")?;
        Ok(Self { _fd: fd })
    }
}

/// `kernel.bpf_stats_enabled`: anything that holds statistics on (another
/// process's BPF_ENABLE_STATS, the sysctl) adds ~35 ns to every run and
/// spoils the timing.
pub fn stats_enabled() -> bool {
    std::fs::read_to_string("/proc/sys/kernel/bpf_stats_enabled").is_ok_and(|s| s.trim() != "0")
}

/// Fails if run-time statistics are on, naming the cause.
pub fn ensure_stats_off() -> Result<()> {
    if stats_enabled() {
        bail!(
            "kernel.bpf_stats_enabled is 1: run-time statistics add ~35 ns to every run. \
             Turn it off (`sysctl -w kernel.bpf_stats_enabled=0`) and stop whatever holds \
             BPF_ENABLE_STATS, then run the benchmark again"
        );
    }
    Ok(())
}

/// Pins the calling thread to `cpu`: test runs execute on the caller's CPU,
/// and per-CPU LRU lists are per CPU.
pub fn pin_to_cpu(cpu: usize) -> Result<()> {
    let mut set = nix::sched::CpuSet::new();
    set.set(cpu).context("CPU index out of range")?;
    nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(0), &set)
        .with_context(|| format!("pinning to CPU {cpu}"))
}

/// Lets the calling thread run on every online CPU again.
pub fn unpin() -> Result<()> {
    let mut set = nix::sched::CpuSet::new();
    for cpu in 0..online_cpus() {
        set.set(cpu).context("CPU index out of range")?;
    }
    nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(0), &set).context("unpinning")
}

/// Online CPUs of the machine (not of this thread's affinity mask, which
/// pinning narrows).
pub fn online_cpus() -> usize {
    // SAFETY: sysconf only reads a system value.
    let n = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    usize::try_from(n).unwrap_or(1).max(1)
}

/// Possible CPUs (/sys/devices/system/cpu/possible): what per-CPU maps and
/// per-CPU LRU lists are sized by.
pub fn possible_cpus() -> usize {
    std::fs::read_to_string("/sys/devices/system/cpu/possible")
        .ok()
        .and_then(|s| s.trim().rsplit(['-', ',']).next()?.parse::<usize>().ok())
        .map_or_else(online_cpus, |last| last + 1)
}

/// Sizes of a loaded program as the kernel sees it (`bpftool prog show`).
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq)]
pub struct ProgSize {
    /// Instructions after the verifier's rewrites (`xlated_len / 8`; a 64-bit
    /// immediate load counts twice).
    pub xlated_insns: u64,
    /// Bytes of JITed x86-64 code.
    pub jited_bytes: u64,
    /// Instructions the verifier walked, over all paths.
    pub verified_insns: u64,
}

/// [`ProgSize`] of `prog`, from `bpftool prog show id N --json` and the
/// kernel's program info (verified instructions; this bpftool does not print
/// them).
pub fn prog_size(prog: &Xdp) -> Result<ProgSize> {
    let info = prog.info()?;
    let id = info.id();
    let out = std::process::Command::new("bpftool")
        .args(["prog", "show", "id", &id.to_string(), "--json"])
        .output()
        .context("running bpftool (Debian package `bpftool`; `cargo xtask setup` installs it)")?;
    ensure!(
        out.status.success(),
        "bpftool prog show id {id}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).context("bpftool's JSON")?;
    let field = |k: &str| v.get(k).and_then(serde_json::Value::as_u64).unwrap_or(0);
    Ok(ProgSize {
        xlated_insns: field("bytes_xlated") / 8,
        jited_bytes: field("bytes_jited"),
        verified_insns: info.verified_instruction_count().map_or(0, u64::from),
    })
}
