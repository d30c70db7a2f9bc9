//! The NAT cases: what `forward = "nat"` costs per packet, request and reply
//! direction, established and new, against `floor` and `floor_flow`.
//!
//! Why not repeat = N: the kernel runs the program again on its own output,
//! and a translated packet (nat_source → backend) is not the request any
//! more (nor is a translated reply a reply). So every NAT case is timed one
//! call per packet (repeat = 1) on a fresh copy of its frame, as part 1's
//! new-flow cases are, and the per-call overhead, measured the same way on
//! the floor in the same round (floor with repeat = 1 against repeat = N),
//! is subtracted. The established paths find their translation in place: an
//! untimed SYN, handshake ACK and first request make it, through the
//! program itself. A second pass reads the kernel's run-time statistics,
//! which need no subtraction.
//!
//! Proof of path, every call: the verdict (XDP_REDIRECT: in on one
//! interface, out of the other, by the FIB), the output frame byte for byte
//! against one built from scratch (addresses, ports, MACs from the
//! neighbour entries, checksums), and at the end of each case the change of
//! every counter of the VIP, the backends and the global slot. A new flow's
//! translation is read back from NAT_FWD: on its Maglev backend, a port in
//! the range, and its NAT_REV entry pointing back at the client.

use anyhow::{Context as _, Result, ensure};
use lb_common::{addr::from_ip, flow::FlowKey, stats::Counters, vip::PROTO_TCP};

use super::{
    cases::{Bench, Mode, PerCall, Stable},
    catalog::Frames,
    figure::Figure,
    nat_frames::{checksums_ok, reply, reply_out, request, translated},
    nat_report::{NatFigures, NatMethod, NatRefs, NatReport},
    nat_setup::{NatLb, NatNet, PORT_MAX, PORT_MIN, VIP_PORT, XDP_REDIRECT, run_on},
    setup::VIP4,
};
use crate::{
    clients,
    packet::{TCP_PSH_ACK, TCP_SYN},
    stats::{Summary, median},
    xdp,
};

/// Payload of the established request and reply segments (as part 1's
/// `established` case).
const PAYLOAD: usize = 100;
const TCP_ACK: u8 = 0x10;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Case {
    /// An established flow's request: FLOWS hit, NAT_FWD hit, rewrite, FIB.
    Request,
    /// The backend's reply: NAT_REV hit, rewrite, FIB.
    Reply,
    /// A new client's SYN: Maglev pick, handshake slot, port allocation
    /// (NAT_REV insert if absent, NAT_FWD insert), rewrite, FIB.
    NewFlow,
}

const CASES: [Case; 3] = [Case::Request, Case::Reply, Case::NewFlow];

/// Mean and median ns per call of one case in one round.
struct Timed {
    mean: f64,
    p50: f64,
}

/// The established flow the Request and Reply cases use.
struct Established {
    client: std::net::IpAddr,
    port: u16,
    backend: u32,
    nport: u16,
}

struct NatBench<'a> {
    lb: NatLb,
    net: &'a NatNet,
    est: Established,
    next_client: u32,
    made: Vec<FlowKey>,
}

/// The established client, and the first fresh one.
const EST_CLIENT: u32 = 0;
const FIRST_FRESH: u32 = 1;

fn add(c: &mut Counters, len: usize, new: u64, reply: bool) {
    if reply {
        c.reply_packets += 1;
        c.reply_bytes += len as u64;
    } else {
        c.packets += 1;
        c.bytes += len as u64;
        c.new_flows += new;
    }
}

impl NatBench<'_> {
    fn run(&self, frame: &[u8], ingress: u32) -> Result<(xdp::Run, Vec<u8>)> {
        let mut out = vec![0u8; frame.len() + 64];
        let run = run_on(self.lb.prog()?, frame, ingress, &mut out)?;
        out.truncate(run.out_len);
        Ok((run, out))
    }

    /// SYN, handshake ACK and a first request of client `i`, untimed:
    /// the flow's translation, made by the program.
    fn establish(lb: NatLb, net: &NatNet) -> Result<NatBench<'_>> {
        let (client, port) = clients::v4(EST_CLIENT);
        let mut b = NatBench {
            lb,
            net,
            est: Established {
                client,
                port,
                backend: 0,
                nport: 0,
            },
            next_client: FIRST_FRESH,
            made: Vec::new(),
        };
        for (flags, payload) in [(TCP_SYN, 0), (TCP_ACK, 0), (TCP_PSH_ACK, PAYLOAD)] {
            let frame = request(client, port, flags, payload, net.client_if_mac);
            let (run, _) = b.run(&frame, net.client_if)?;
            ensure!(
                run.verdict == XDP_REDIRECT,
                "NAT set-up: verdict {} for flags {flags:#x}",
                run.verdict
            );
        }
        let key = key_of(client, port);
        let (fwd, _) = b.lb.reply_key(&key)?;
        ensure!(
            fwd.backend_id == b.lb.pick(&key),
            "NAT set-up: not the Maglev backend"
        );
        b.est.backend = fwd.backend_id;
        b.est.nport = u16::from_be(fwd.nat_port_be);
        Ok(b)
    }

    /// One call of `case`: its frame, ingress, expected output and counter change.
    fn frame(&mut self, case: Case, want: &mut [Counters]) -> (Vec<u8>, u32, Option<Vec<u8>>) {
        let (e, net) = (&self.est, self.net);
        match case {
            Case::Request => {
                let f = request(e.client, e.port, TCP_PSH_ACK, PAYLOAD, net.client_if_mac);
                add(&mut want[0], f.len(), 0, false);
                add(&mut want[1 + e.backend as usize], f.len(), 0, false);
                let out = translated(
                    e.client,
                    e.port,
                    TCP_PSH_ACK,
                    PAYLOAD,
                    e.nport,
                    e.backend,
                    net.backend_if_mac,
                );
                (f, net.client_if, Some(out))
            }
            Case::Reply => {
                let f = reply(e.backend, e.nport, TCP_PSH_ACK, PAYLOAD, net.backend_if_mac);
                add(&mut want[0], f.len(), 0, true);
                add(&mut want[1 + e.backend as usize], f.len(), 0, true);
                let out = reply_out(e.client, e.port, TCP_PSH_ACK, PAYLOAD, net.client_if_mac);
                (f, net.backend_if, Some(out))
            }
            Case::NewFlow => {
                let (client, port) = clients::v4(self.next_client);
                self.next_client += 1;
                let key = key_of(client, port);
                let f = request(client, port, TCP_SYN, 0, net.client_if_mac);
                let id = self.lb.pick(&key);
                add(&mut want[0], f.len(), 1, false);
                add(&mut want[1 + id as usize], f.len(), 1, false);
                self.made.push(key);
                // The output depends on the port allocated: checked after the call.
                (f, net.client_if, None)
            }
        }
    }

    /// A new flow's translation, read back: its Maglev backend, a port in
    /// the range, the reply entry pointing back at it; the frame it expects.
    fn check_new(&self, key: &FlowKey, client: std::net::IpAddr, port: u16) -> Result<Vec<u8>> {
        let (fwd, rkey) = self.lb.reply_key(key)?;
        let id = self.lb.pick(key);
        ensure!(
            fwd.backend_id == id,
            "new flow on {}, not {id}",
            fwd.backend_id
        );
        let nport = u16::from_be(fwd.nat_port_be);
        ensure!(
            (PORT_MIN..=PORT_MAX).contains(&nport),
            "port {nport} out of range"
        );
        let rev = self.lb.rev.get(&rkey, 0).context("no NAT_REV entry")?;
        ensure!(
            rev.client == key.src && rev.client_port_be == key.sport_be,
            "NAT_REV entry of another client"
        );
        Ok(translated(
            client,
            port,
            TCP_SYN,
            0,
            nport,
            id,
            self.net.backend_if_mac,
        ))
    }

    /// `calls` calls of `case`; every one checked.
    fn time(&mut self, case: Case, calls: usize, mode: Mode) -> Result<Timed> {
        let before = self.lb.counters()?;
        let mut want = vec![Counters::default(); before.len()];
        let stats_before = xdp::prog_stats(self.lb.prog()?)?;
        let mut ns = Vec::with_capacity(calls);
        for _ in 0..calls {
            let next = self.next_client;
            let (frame, ingress, expected) = self.frame(case, &mut want);
            let (run, out) = self.run(&frame, ingress)?;
            ensure!(
                run.verdict == XDP_REDIRECT,
                "NAT {case:?}: verdict {} instead of XDP_REDIRECT",
                run.verdict
            );
            let expected = if let Some(e) = expected {
                e
            } else {
                let (client, port) = clients::v4(next);
                self.check_new(&key_of(client, port), client, port)
                    .with_context(|| format!("NAT {case:?}"))?
            };
            ensure!(
                out == expected && checksums_ok(&out),
                "NAT {case:?}: the output frame is not the translated one"
            );
            ns.push(f64::from(run.ns));
        }
        let stats_after = xdp::prog_stats(self.lb.prog()?)?;
        let after = self.lb.counters()?;
        let mut moved = after.clone();
        let now: &mut [u64] = bytemuck::cast_slice_mut(&mut moved);
        let then: &[u64] = bytemuck::cast_slice(&before);
        now.iter_mut().zip(then).for_each(|(x, y)| *x -= y);
        ensure!(
            moved == want,
            "NAT {case:?}: counters (VIP, backends, global) moved by {moved:?}, expected {want:?}"
        );
        Ok(match mode {
            Mode::Duration => Timed {
                mean: ns.iter().sum::<f64>() / ns.len() as f64 + 0.5,
                p50: median(&ns) + 0.5,
            },
            Mode::Stats => {
                let runs = stats_after.1 - stats_before.1;
                ensure!(runs == calls as u64, "NAT {case:?}: {runs} runs counted");
                let t = stats_after
                    .0
                    .checked_sub(stats_before.0)
                    .unwrap()
                    .as_nanos() as f64
                    / runs as f64;
                Timed { mean: t, p50: t }
            }
        })
    }

    /// Removes the translations the new-flow calls made.
    fn forget_new(&mut self) {
        for key in std::mem::take(&mut self.made) {
            self.lb.forget(&key);
        }
    }
}

fn key_of(client: std::net::IpAddr, port: u16) -> FlowKey {
    FlowKey::new(
        from_ip(client),
        from_ip(std::net::IpAddr::V4(VIP4)),
        port.to_be(),
        VIP_PORT.to_be(),
        PROTO_TCP,
    )
}

/// Per round: floor, floor_flow, floor with repeat = 1, and the NAT cases.
#[derive(Default)]
struct Rounds {
    floor: Vec<f64>,
    floor_flow: Vec<f64>,
    overhead: Vec<f64>,
    mean: [Vec<f64>; 3],
    p50: [Vec<f64>; 3],
}

fn rounds(
    b: &mut Bench,
    frames: &Frames,
    nat: &mut NatBench,
    refs: &[Stable; 2],
    n: usize,
    mode: Mode,
) -> Result<Rounds> {
    let mut r = Rounds::default();
    let floor_r1 = PerCall::Same(Stable {
        name: Figure::FloorR1,
        ..refs[0].clone()
    });
    for round in 0..n {
        super::put_fixed(b, frames)?;
        let floor = b.stable(&refs[0], mode)?;
        let floor_flow = b.stable(&refs[1], mode)?;
        let r1 = b.per_call(&floor_r1, mode)?.mean;
        r.floor.push(floor);
        r.floor_flow.push(floor_flow);
        r.overhead.push(if mode == Mode::Duration {
            r1 - floor
        } else {
            0.0
        });
        for i in 0..CASES.len() {
            let k = (i + round) % CASES.len();
            let t = nat.time(CASES[k], b.calls, mode)?;
            r.mean[k].push(t.mean);
            r.p50[k].push(t.p50);
        }
        nat.forget_new();
        eprint!(".");
    }
    eprintln!();
    Ok(r)
}

/// Runs the NAT cases on the CPU `cpu`; `refs` are part 1's `floor` and
/// `floor_flow` cases.
pub fn run(
    b: &mut Bench,
    frames: &Frames,
    refs: &[Stable; 2],
    cpu: usize,
    n: usize,
    stats_n: usize,
) -> Result<NatReport> {
    let (est_client, _) = clients::v4(EST_CLIENT);
    let net = NatNet::create(&[est_client]).context("the NAT cases' namespace")?;
    let lb = NatLb::load()?;
    let calls = b.calls;
    let result = net.ns.run_inside(|| -> Result<(Rounds, Rounds)> {
        xdp::pin_to_cpu(cpu)?;
        let mut nat = NatBench::establish(lb, &net)?;
        eprintln!("dataplane: NAT, {n} rounds");
        let dur = rounds(b, frames, &mut nat, refs, n, Mode::Duration)?;
        xdp::ensure_stats_off()?;
        eprintln!("dataplane: NAT, {stats_n} rounds with run-time statistics");
        let _stats = xdp::RunTimeStats::enable()?;
        let st = rounds(b, frames, &mut nat, refs, stats_n, Mode::Stats)?;
        Ok((dur, st))
    });
    let (dur, st) = result??;
    drop(net);
    let figures = |k: usize| -> NatFigures {
        let net_ns: Vec<f64> = dur.mean[k]
            .iter()
            .zip(&dur.overhead)
            .map(|(m, o)| m - o)
            .collect();
        let over =
            |refv: &[f64]| -> Vec<f64> { net_ns.iter().zip(refv).map(|(a, b)| a / b).collect() };
        NatFigures {
            net_ns: Summary::rounded(&net_ns, 1),
            p50_ns: Summary::rounded(&dur.p50[k], 1),
            stats_ns: Summary::rounded(&st.mean[k], 1),
            vs_floor: Summary::rounded(&over(&dur.floor), 2),
            vs_floor_flow: Summary::rounded(&over(&dur.floor_flow), 2),
        }
    };
    Ok(NatReport {
        method: NatMethod {
            calls: calls as u32,
            rounds: n as u32,
            stats_rounds: stats_n as u32,
            port_min: PORT_MIN,
            port_max: PORT_MAX,
            backends: super::setup::BACKENDS,
        },
        request: figures(0),
        reply: figures(1),
        new_flow: figures(2),
        refs: NatRefs {
            floor_ns: Summary::rounded(&dur.floor, 1),
            floor_flow_ns: Summary::rounded(&dur.floor_flow, 1),
            per_call_overhead_ns: Summary::rounded(&dur.overhead, 1),
            floor_stats_ns: Summary::rounded(&st.floor, 1),
            floor_flow_stats_ns: Summary::rounded(&st.floor_flow, 1),
        },
    })
}
