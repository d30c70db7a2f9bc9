//! Part 1: what `lb` costs per packet on each path, against the reference
//! that does the same kind of work, through BPF_PROG_TEST_RUN.
//!
//! Stable paths (a flow hit, a non-VIP packet, the references) are one call
//! with repeat = N each: the kernel's mean per run. Paths that change after
//! one run (a new flow is an established one from its second packet on) are
//! one call per distinct frame, repeat = 1; such a call's time also holds the
//! call's own overhead, measured the same way on the floor and subtracted.
//! Every case is proved to take its path (verdict, output frame, counters).
//! Rounds interleave all cases; figures are medians over rounds, ratios the
//! medians of per-round ratios. A second pass takes the kernel's run-time
//! statistics instead of the test-run time.
mod assemble;
mod cases;
mod catalog;
mod described;
mod effect;
mod figure;
mod fill;
mod findings;
mod flood;
mod lookup;
mod nat_cases;
mod nat_frames;
pub mod nat_report;
mod nat_setup;
mod render;
pub mod report;
pub mod setup;

use std::{collections::BTreeMap, time::Instant};

use anyhow::{Result, ensure};
use aya::maps::IterableMap as _;
use lb_common::flow::FlowInfo;
pub use render::render;

use self::{
    cases::{Bench, Mode, PerCall, Stable},
    catalog::{Catalog, FIRST_FRESH, Frames},
    figure::{Figure, Program},
    fill::{Table as _, count, fill, fill_fresh, fill_pcpu},
    report::{Report, TableState},
    setup::{Lb, Refs, established},
};
use crate::{Ctx, clients::Fresh, xdp};

/// Runs per repeat = N call (even, so the floor's MAC swaps cancel out).
pub const REPEAT: u32 = 1_000_000;
/// Calls per per-call case and round.
pub const CALLS: usize = 20_000;
/// Rounds timed by the test-run duration, and by run-time statistics.
pub const ROUNDS: usize = 9;
pub const STATS_ROUNDS: usize = 5;
/// Flows in every table for the non-full cases.
pub const FLOWS_PRESENT: u32 = 1_000_000;

/// Per case: the value of each round.
pub type Rounds = BTreeMap<Figure, Vec<f64>>;

/// What rounds give: per case, the time of each round; for per-call cases
/// also the median call, the share of slow calls and their mean (µs).
#[derive(Default)]
pub struct Collected {
    pub time: Rounds,
    pub p50: Rounds,
    pub slow_share: Rounds,
    pub slow_us: Rounds,
}

impl Collected {
    fn extend(&mut self, other: Collected) {
        self.time.extend(other.time);
        self.p50.extend(other.p50);
        self.slow_share.extend(other.slow_share);
        self.slow_us.extend(other.slow_us);
    }
}

/// Runs `rounds` interleaved rounds of `stable` and `per_call` cases.
fn rounds(
    b: &mut Bench,
    frames: &Frames,
    stable: &[Stable],
    per_call: &[PerCall],
    rounds: usize,
    mode: Mode,
    forget: bool,
) -> Result<Collected> {
    let mut out = Collected::default();
    for r in 0..rounds {
        // Put the fixed flows back, in case a full table evicted one.
        put_fixed(b, frames)?;
        for i in 0..stable.len() {
            let c = &stable[(i + r) % stable.len()];
            let ns = b.stable(c, mode)?;
            out.time.entry(c.name).or_default().push(ns);
        }
        for i in 0..per_call.len() {
            let c = &per_call[(i + r) % per_call.len()];
            let t = b.per_call(c, mode)?;
            let name = c.name();
            out.time.entry(name).or_default().push(t.mean);
            if let Some(d) = t.detail {
                out.p50.entry(name).or_default().push(d.p50);
                out.slow_share.entry(name).or_default().push(d.slow_share);
                out.slow_us.entry(name).or_default().push(d.slow_mean_us);
            }
        }
        if forget {
            b.forget_new();
        }
        eprint!(".");
    }
    eprintln!();
    Ok(out)
}

fn put_fixed(b: &mut Bench, frames: &Frames) -> Result<()> {
    for (key, backend) in frames.flows() {
        let info = FlowInfo {
            vip_id: setup::vip_of(&key),
            ..established(backend)
        };
        b.lb.maps.flows.insert(key, info, 0)?;
        b.refs.common.insert(key, established(backend), 0)?;
        if key.narrow().is_some() {
            b.refs.common4.put(key, established(backend))?;
        }
        b.refs.pcpu.insert(key, established(backend), 0)?;
    }
    Ok(())
}

pub fn run(ctx: &Ctx) -> Result<Report> {
    let started = Instant::now();
    xdp::ensure_stats_off()?;
    let lb = Lb::load()?;
    let max_flows = lb.sizes.max_flows;
    ensure!(
        max_flows >= FLOWS_PRESENT,
        "the default flow table ({max_flows}) is smaller than the {FLOWS_PRESENT} flows to hold"
    );
    let refs = Refs::load(max_flows)?;
    let mut b = Bench {
        lb,
        refs,
        fresh: Fresh::from(FIRST_FRESH),
        repeat: REPEAT,
        calls: CALLS,
        made: Vec::new(),
        rng: 0x6c62_2d62_656e_6368,
    };
    let frames = Frames::new();

    eprintln!("dataplane: filling four flow tables with {FLOWS_PRESENT} flows each");
    fill(&mut b.lb.maps.flows, 0..FLOWS_PRESENT)?;
    fill(&mut b.refs.common, 0..FLOWS_PRESENT)?;
    fill(&mut b.refs.common4, 0..FLOWS_PRESENT)?;
    fill_pcpu(&mut b.refs.pcpu, 0..FLOWS_PRESENT)?;
    // Timing runs on one CPU; the per-CPU table's cases use that CPU's share.
    let cpu = xdp::online_cpus() - 1;
    xdp::pin_to_cpu(cpu)?;
    put_fixed(&mut b, &frames)?;
    let present = count(&b.lb.maps.flows)?;

    let Catalog {
        stable_a,
        per_call_a,
        stable_b,
        per_call_b,
    } = Catalog::new(&frames);
    let f = &frames;

    eprintln!("dataplane: {ROUNDS} rounds, tables not full");
    let mut dur = rounds(
        &mut b,
        f,
        &stable_a,
        &per_call_a,
        ROUNDS,
        Mode::Duration,
        true,
    )?;
    xdp::ensure_stats_off()?;
    eprintln!("dataplane: {STATS_ROUNDS} rounds with run-time statistics");
    let stats_a = {
        let _stats = xdp::RunTimeStats::enable()?;
        rounds(
            &mut b,
            f,
            &stable_a,
            &per_call_a,
            STATS_ROUNDS,
            Mode::Stats,
            true,
        )?
        .time
    };

    // NAT forwarding, in its own namespace, with the tables not full.
    let nat = {
        let by_name = |n| stable_a.iter().find(|c| c.name == n).cloned();
        let refs = [by_name(Figure::Floor), by_name(Figure::FloorFlow)];
        let [Some(floor), Some(floor_flow)] = refs else {
            anyhow::bail!("the catalog lost its floor or floor_flow case");
        };
        nat_cases::run(&mut b, f, &[floor, floor_flow], cpu, ROUNDS, STATS_ROUNDS)?
    };
    xdp::pin_to_cpu(cpu)?;

    // Full: every table at capacity, so every new flow evicts one.
    eprintln!("dataplane: filling the tables to capacity");
    let margin = 1024 * xdp::online_cpus() as u32;
    let lb_now = count(&b.lb.maps.flows)? as u32;
    fill_fresh(
        &mut b.lb.maps.flows,
        &mut b.fresh,
        max_flows - lb_now + margin,
    )?;
    let common_now = count(&b.refs.common)? as u32;
    fill_fresh(
        &mut b.refs.common,
        &mut b.fresh,
        max_flows - common_now + margin,
    )?;
    // The kernel gives each possible CPU's list an equal share; fill_pcpu
    // put FLOWS_PRESENT / cpus in each online CPU's; top every share up.
    let cpus = xdp::online_cpus();
    let share = b.refs.pcpu.map().info()?.max_entries() / xdp::possible_cpus() as u32;
    for c in 0..cpus {
        xdp::pin_to_cpu(c)?;
        let n = share.saturating_sub(FLOWS_PRESENT / cpus as u32) + margin;
        fill_fresh(&mut b.refs.pcpu, &mut b.fresh, n)?;
    }
    xdp::pin_to_cpu(cpu)?;
    let full_before = count(&b.lb.maps.flows)?;

    eprintln!("dataplane: {ROUNDS} rounds, tables full");
    dur.extend(rounds(
        &mut b,
        f,
        &stable_b,
        &per_call_b,
        ROUNDS,
        Mode::Duration,
        false,
    )?);
    xdp::ensure_stats_off()?;
    eprintln!("dataplane: {STATS_ROUNDS} rounds, tables full, with run-time statistics");
    let stats_b = {
        let _stats = xdp::RunTimeStats::enable()?;
        rounds(
            &mut b,
            f,
            &stable_b,
            &per_call_b,
            STATS_ROUNDS,
            Mode::Stats,
            false,
        )?
        .time
    };
    let full_after = count(&b.lb.maps.flows)?;
    xdp::unpin()?;

    let mut profile = BTreeMap::new();
    profile.insert(Program::Lb, xdp::prog_size(b.lb.prog()?)?);
    for p in Program::REFS {
        profile.insert(p, xdp::prog_size(b.refs.prog(p)?)?);
    }

    let mut stats = stats_a;
    stats.extend(stats_b);
    let report = assemble::assemble(
        ctx,
        &dur,
        &stats,
        profile,
        TableState {
            max_flows,
            present,
            full_before,
            full_after,
            pcpu_share: share,
            cpu,
        },
        started.elapsed().as_secs_f64(),
    );
    let mut report = report;
    report.nat = Some(nat);
    report.plots = report::plot(&report, &ctx.plots).into_iter().collect();
    Ok(report)
}
