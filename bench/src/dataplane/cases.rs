//! Running one case and proving it took the path it names: the verdict, the
//! output frame and, for `lb`, the change of every counter must be exactly
//! what that path gives, for every run.

use anyhow::{Context as _, Result, ensure};
use aya::programs::Xdp;
use lb_common::flow::FlowKey;

pub use super::effect::Effect;
use super::{
    figure::{Figure, Program},
    setup::{Lb, REF_MISS_ID, Refs, Snapshot, VIP_TCP4, backend_mac, ref_mac},
};
use crate::{
    clients::{self, Fresh},
    packet::{L4, Spec, TCP_SYN},
    stats::median,
    xdp::{self, XDP_TX},
};

/// A case whose every run takes the same path, so one call with repeat = N
/// measures it.
#[derive(Clone, Debug)]
pub struct Stable {
    pub name: Figure,
    pub prog: Program,
    pub frame: Vec<u8>,
    pub verdict: u32,
    pub effect: Effect,
    /// `lb`'s counter changes for one run; `None` for the references.
    pub per_run: Option<Snapshot>,
}

/// Which flow table a new client's flow lands in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Table {
    /// `lb`'s FLOWS (the program is `lb`).
    Lb,
    /// `floor_flow`'s FLOWS_COMMON.
    Common,
    /// `floor_flow_pcpu`'s FLOWS_PCPU.
    Pcpu,
}

/// A case measured one call (repeat = 1) per frame.
#[derive(Clone, Debug)]
pub enum PerCall {
    /// The same frame each call: a stable path, measured like the new-flow
    /// cases to learn the per-call overhead.
    Same(Stable),
    /// A frame from a client never seen before, each call: a new flow.
    NewClient {
        name: Figure,
        table: Table,
        template: Spec,
    },
    /// A new client each call: its SYN first (not timed), then the timed
    /// `template` segment, the handshake's first ACK, which makes the flow
    /// entry on the SYN's backend. `lb` only.
    Confirm { name: Figure, template: Spec },
    /// A frame of a different established flow each call, picked at random
    /// among the first `flows` clients (all in the table, client `i` on
    /// backend `i % 10`): the lookups miss the CPU caches, as real traffic
    /// over many flows does. `Table::Lb` or `Table::Common` only.
    Spread {
        name: Figure,
        table: Table,
        template: Spec,
        flows: u32,
    },
}

impl PerCall {
    pub fn name(&self) -> Figure {
        match self {
            PerCall::Same(s) => s.name,
            PerCall::NewClient { name, .. }
            | PerCall::Spread { name, .. }
            | PerCall::Confirm { name, .. } => *name,
        }
    }
}

/// How a measurement is taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// The time BPF_PROG_TEST_RUN reports (statistics must be off).
    Duration,
    /// The kernel's run-time statistics (run_time_ns / run_cnt), enabled.
    Stats,
}

/// What the calls of a per-call case took, in ns per call.
pub struct PerCallTime {
    /// Mean over all calls.
    pub mean: f64,
    /// Test-run time only: the shape of the calls' times.
    pub detail: Option<CallDetail>,
}

/// A call slower than this holds more than one packet's work (a batch of LRU
/// work, an interrupt).
pub const SLOW_NS: f64 = 5_000.0;

pub struct CallDetail {
    /// The median call: what a call costs when no batch of LRU work falls on it.
    pub p50: f64,
    /// Share of the calls slower than [`SLOW_NS`], and their mean in µs.
    pub slow_share: f64,
    pub slow_mean_us: f64,
}

/// The programs under test and the state of the measurements.
pub struct Bench {
    pub lb: Lb,
    pub refs: Refs,
    pub fresh: Fresh,
    pub repeat: u32,
    pub calls: usize,
    /// Flows the new-client cases created, per table, since the last [`Bench::forget_new`].
    pub made: Vec<(Table, FlowKey)>,
    /// State of the generator that spreads calls over the flows.
    pub rng: u64,
}

impl Bench {
    pub fn prog(&self, prog: Program) -> Result<&Xdp> {
        match prog {
            Program::Lb => self.lb.prog(),
            reference => self.refs.prog(reference),
        }
    }

    fn prog_of(table: Table) -> Program {
        match table {
            Table::Lb => Program::Lb,
            Table::Common => Program::FloorFlow,
            Table::Pcpu => Program::FloorFlowPcpu,
        }
    }

    /// One call with repeat = N: ns per run, after checking everything.
    pub fn stable(&self, c: &Stable, mode: Mode) -> Result<f64> {
        let prog = self.prog(c.prog)?;
        let before = match c.per_run {
            Some(_) => Some(self.lb.snapshot()?),
            None => None,
        };
        let stats_before = xdp::prog_stats(prog)?;
        let mut out = vec![0u8; c.frame.len() + 64];
        let run = xdp::test_run(prog, &c.frame, self.repeat, &mut out)
            .with_context(|| format!("case {}", c.name))?;
        let stats_after = xdp::prog_stats(prog)?;
        ensure!(
            run.verdict == c.verdict,
            "case {}: verdict {} instead of {}",
            c.name,
            run.verdict,
            c.verdict
        );
        ensure!(
            out[..run.out_len] == c.effect.after(&c.frame, self.repeat)[..],
            "case {}: the output frame is not what {} runs of its path give",
            c.name,
            self.repeat
        );
        if let (Some(before), Some(per_run)) = (before, &c.per_run) {
            let delta = self.lb.snapshot()?.since(&before);
            let want = per_run.times(u64::from(self.repeat));
            ensure!(
                delta == want,
                "case {}: counters moved by {delta:?}, expected {want:?}",
                c.name
            );
        }
        match mode {
            // The kernel truncates to whole ns: the true mean lies in [ns, ns + 1).
            Mode::Duration => Ok(f64::from(run.ns) + 0.5),
            Mode::Stats => {
                let runs = stats_after.1 - stats_before.1;
                ensure!(
                    runs == u64::from(self.repeat),
                    "case {}: the kernel counted {runs} runs, not {}",
                    c.name,
                    self.repeat
                );
                Ok(stats_after
                    .0
                    .checked_sub(stats_before.0)
                    .unwrap()
                    .as_nanos() as f64
                    / runs as f64)
            }
        }
    }

    /// `self.calls` calls with repeat = 1: ns per run, after checking
    /// everything. In Duration mode the figure includes the per-call overhead.
    pub fn per_call(&mut self, c: &PerCall, mode: Mode) -> Result<PerCallTime> {
        let (name, prog) = match c {
            PerCall::Same(s) => (s.name, s.prog),
            PerCall::NewClient { name, table, .. } | PerCall::Spread { name, table, .. } => {
                (*name, Self::prog_of(*table))
            }
            PerCall::Confirm { name, .. } => (*name, Program::Lb),
        };
        let before = self.lb.snapshot()?;
        let mut want = Snapshot::zero();
        let stats_before = xdp::prog_stats(self.prog(prog)?)?;
        let mut ns = Vec::with_capacity(self.calls);
        let mut out = vec![0u8; 256];
        // The last flow made: its table, key, backend, and whether it waits
        // in HANDSHAKES (a SYN through lb) rather than in a flow table.
        let mut last: Option<(Table, FlowKey, u32, bool)> = None;
        // Run-time statistics of the untimed runs (a Confirm case's SYNs),
        // taken off the whole calls' at the end.
        let mut untimed = (std::time::Duration::ZERO, 0u64);
        for _ in 0..self.calls {
            let (frame, verdict, effect) = match c {
                PerCall::Same(s) => {
                    if let Some(per_run) = &s.per_run {
                        want = want.plus(per_run);
                    }
                    (s.frame.clone(), s.verdict, s.effect)
                }
                PerCall::NewClient {
                    table, template, ..
                } => {
                    let (addr, port) = clients::v4(self.fresh.next());
                    let spec = template.with_client(addr, port);
                    let frame = spec.build();
                    let key = spec.key();
                    let (mac, id) = if *table == Table::Lb {
                        let id = self.lb.pick(&key);
                        want.forwarded(VIP_TCP4, id, 1, frame.len(), 1);
                        (backend_mac(id), id)
                    } else {
                        (ref_mac(REF_MISS_ID), REF_MISS_ID)
                    };
                    self.made.push((*table, key));
                    last = Some((*table, key, id, *table == Table::Lb));
                    (frame, XDP_TX, Effect::Forward(mac))
                }
                PerCall::Confirm { template, .. } => {
                    let (addr, port) = clients::v4(self.fresh.next());
                    let ack = template.with_client(addr, port);
                    let key = ack.key();
                    let id = self.lb.pick(&key);
                    let syn = Spec {
                        l4: L4::Tcp { flags: TCP_SYN },
                        payload: 0,
                        ..ack
                    }
                    .build();
                    let before = xdp::prog_stats(self.lb.prog()?)?;
                    let run = xdp::test_run(self.lb.prog()?, &syn, 1, &mut out)
                        .with_context(|| format!("case {name}: SYN"))?;
                    let after = xdp::prog_stats(self.lb.prog()?)?;
                    untimed.0 += after.0.checked_sub(before.0).unwrap();
                    untimed.1 += after.1 - before.1;
                    ensure!(
                        run.verdict == XDP_TX,
                        "case {name}: the SYN was not forwarded"
                    );
                    want.forwarded(VIP_TCP4, id, 1, syn.len(), 1);
                    let frame = ack.build();
                    want.forwarded(VIP_TCP4, id, 1, frame.len(), 0);
                    want.vip(VIP_TCP4).confirmed += 1;
                    self.made.push((Table::Lb, key));
                    last = Some((Table::Lb, key, id, false));
                    (frame, XDP_TX, Effect::Forward(backend_mac(id)))
                }
                PerCall::Spread {
                    table,
                    template,
                    flows,
                    ..
                } => {
                    let i = self.random(*flows);
                    let (addr, port) = clients::v4(i);
                    let frame = template.with_client(addr, port).build();
                    let id = i % super::setup::BACKENDS;
                    let mac = if *table == Table::Lb {
                        want.forwarded(VIP_TCP4, id, 1, frame.len(), 0);
                        backend_mac(id)
                    } else {
                        ref_mac(id)
                    };
                    (frame, XDP_TX, Effect::Forward(mac))
                }
            };
            let run = xdp::test_run(self.prog(prog)?, &frame, 1, &mut out)
                .with_context(|| format!("case {name}"))?;
            ensure!(
                run.verdict == verdict,
                "case {name}: verdict {} instead of {verdict}",
                run.verdict
            );
            ensure!(
                out[..run.out_len] == effect.after(&frame, 1)[..],
                "case {name}: the output frame is not what its path gives"
            );
            ns.push(f64::from(run.ns));
        }
        let stats_after = xdp::prog_stats(self.prog(prog)?)?;
        let delta = self.lb.snapshot()?.since(&before);
        ensure!(
            delta == want,
            "case {name}: counters moved by {delta:?}, expected {want:?}"
        );
        if let Some((table, key, id, handshake)) = last {
            // The last flow made is in its table (the most recent entry of an
            // LRU table cannot have been evicted yet), with the backend picked.
            let info = match table {
                Table::Lb if handshake => self.lb.handshake(&key),
                Table::Lb => self.lb.maps.flows.get(&key, 0),
                Table::Common => self.refs.common.get(&key, 0),
                Table::Pcpu => self.refs.pcpu.get(&key, 0),
            }
            .with_context(|| format!("case {name}: the new flow is not in the table"))?;
            ensure!(
                info.backend_id == id,
                "case {name}: the new flow went to {}, not {id}",
                info.backend_id
            );
        }
        match mode {
            // The plain mean: the common LRU list does its work in batches
            // (a refill of 128 free entries, or the eviction of 128 when
            // full, every 128th insert or so, taking 10 to 30 µs), and that
            // is part of what an insert costs. Truncation: as in `stable`.
            Mode::Duration => {
                let slow: Vec<f64> = ns.iter().copied().filter(|&x| x > SLOW_NS).collect();
                Ok(PerCallTime {
                    mean: ns.iter().sum::<f64>() / ns.len() as f64 + 0.5,
                    detail: Some(CallDetail {
                        p50: median(&ns) + 0.5,
                        slow_share: slow.len() as f64 / ns.len() as f64,
                        slow_mean_us: if slow.is_empty() {
                            0.0
                        } else {
                            slow.iter().sum::<f64>() / slow.len() as f64 / 1e3
                        },
                    }),
                })
            }
            Mode::Stats => {
                let runs = stats_after.1 - stats_before.1 - untimed.1;
                ensure!(
                    runs == self.calls as u64,
                    "case {name}: the kernel counted {runs} runs, not {}",
                    self.calls
                );
                Ok(PerCallTime {
                    mean: stats_after
                        .0
                        .checked_sub(stats_before.0)
                        .unwrap()
                        .checked_sub(untimed.0)
                        .unwrap()
                        .as_nanos() as f64
                        / runs as f64,
                    detail: None,
                })
            }
        }
    }

    /// A pseudo-random number below `n` (64-bit LCG, high bits).
    fn random(&mut self, n: u32) -> u32 {
        self.rng = self
            .rng
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((self.rng >> 33) % u64::from(n)) as u32
    }

    /// Removes the flows the new-client cases made, so the tables stay at
    /// the size the cases are defined for.
    pub fn forget_new(&mut self) {
        for (table, key) in self.made.drain(..) {
            // Already evicted is fine.
            let _ = match table {
                Table::Lb => self.lb.maps.flows.remove(&key),
                Table::Common => self.refs.common.remove(&key),
                Table::Pcpu => self.refs.pcpu.remove(&key),
            };
        }
    }
}
