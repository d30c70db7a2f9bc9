//! Katran-style fixture rows and their runner: each row is a description, map
//! changes to make first, an input frame, the expected verdict and output
//! bytes, the counters expected to move (all others must not), and optionally
//! the flow entry expected afterwards.

use std::net::IpAddr;

use anyhow::Result;
use lb_common::{
    addr::from_ip,
    flow::{FlowInfo, FlowKey},
    vip::{PROTO_TCP, PROTO_UDP, VipAddrSlot},
};

use crate::{
    counters::{Delta, Field, Scope, normalise},
    dataplane::{
        Dataplane, XDP_DROP, XDP_PASS, XDP_TX, backend_mac, errno, forwarded, verdict_name,
    },
    packet::{Frame, L4, Net},
};

/// The flow key of a client-to-VIP packet.
pub fn key(src: IpAddr, dst: IpAddr, sport: u16, dport: u16, proto: u8) -> FlowKey {
    FlowKey::new(
        from_ip(src),
        from_ip(dst),
        sport.to_be(),
        dport.to_be(),
        proto,
    )
}

/// The flow key of a TCP or UDP frame.
pub fn key_of(frame: &Frame) -> FlowKey {
    let (src, dst, l4): (IpAddr, IpAddr, _) = match &frame.net {
        Net::Ipv4(ip) => (ip.src.into(), ip.dst.into(), &ip.l4),
        Net::Ipv6(ip) => (ip.src.into(), ip.dst.into(), &ip.l4),
        other => panic!("key_of a non-IP frame: {other:?}"),
    };
    match l4 {
        L4::Tcp(t) => key(src, dst, t.sport, t.dport, PROTO_TCP),
        L4::Udp(u) => key(src, dst, u.sport, u.dport, PROTO_UDP),
        other => panic!("key_of a frame without TCP or UDP: {other:?}"),
    }
}

/// A map change made before a row's packet.
#[derive(Clone, Debug)]
pub enum Setup {
    /// Backend `id` configured (test MAC and address) in this state.
    Backend(u32, u8),
    /// Backend slot `id` emptied.
    ClearBackend(u32),
    /// Live table of a VIP from these backend ids (none: all `NO_BACKEND`).
    Publish(u32, Vec<u32>),
    /// A connection recorded in `DRAIN_FLOWS` for a draining backend.
    DrainFlow(FlowKey, u32),
    InsertFlow(FlowKey, FlowInfo),
    RemoveFlow(FlowKey),
    /// The `HANDSHAKES` slot of this key emptied (overwritten by a flood).
    ForgetHandshake(FlowKey),
    /// `OWN_MAC` set to this MAC, or cleared.
    OwnMac(Option<crate::packet::Mac>),
    /// The `VIP_ADDRS` slot of this address, written as given.
    VipAddrSlot(IpAddr, VipAddrSlot),
}

impl Setup {
    fn apply(&self, dp: &mut Dataplane) -> Result<()> {
        match self {
            Setup::Backend(id, state) => dp.set_backend(*id, *state),
            Setup::ClearBackend(id) => dp.clear_backend(*id),
            Setup::Publish(vip, ids) => dp.publish(*vip, ids),
            Setup::DrainFlow(key, id) => dp.drain_flow(key, *id),
            Setup::InsertFlow(k, v) => dp.insert_flow(k, v),
            Setup::RemoveFlow(k) => dp.remove_flow(k),
            Setup::ForgetHandshake(k) => dp.forget_handshake(k),
            Setup::VipAddrSlot(addr, slot) => dp.set_vip_addr_slot(*addr, *slot),
            Setup::OwnMac(mac) => dp.set_own_mac(*mac),
        }
    }
}

/// What the program should do with the row's frame.
#[derive(Clone, Debug)]
pub enum Expect {
    /// XDP_PASS, frame unchanged.
    Pass,
    /// XDP_DROP, frame unchanged.
    Drop,
    /// XDP_TX with exactly these bytes.
    Tx(Vec<u8>),
    /// The kernel refuses the test run itself with this errno.
    Rejected(i32),
}

/// XDP_TX of `input` rewritten for backend `id` (see [`forwarded`]).
pub fn tx_to(input: &[u8], id: u32) -> Expect {
    Expect::Tx(forwarded(input, backend_mac(id)))
}

/// The flow entry expected after the row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlowCheck {
    /// Neither a flow entry nor a handshake.
    Absent,
    Entry {
        backend: u32,
        flags: u32,
    },
    /// No flow entry; a SYN's pick waits in `HANDSHAKES` for its first ACK.
    Handshake {
        backend: u32,
    },
}

#[derive(Clone, Debug)]
pub struct Row {
    pub desc: String,
    pub setup: Vec<Setup>,
    pub input: Vec<u8>,
    pub expect: Expect,
    pub deltas: Vec<Delta>,
    pub flow: Option<(FlowKey, FlowCheck)>,
}

impl Row {
    pub fn new(desc: impl Into<String>, input: Vec<u8>, expect: Expect) -> Self {
        Self {
            desc: desc.into(),
            setup: Vec::new(),
            input,
            expect,
            deltas: Vec::new(),
            flow: None,
        }
    }

    pub fn setup(mut self, s: Setup) -> Self {
        self.setup.push(s);
        self
    }

    pub fn delta(mut self, scope: Scope, field: Field, by: u64) -> Self {
        self.deltas.push(Delta { scope, field, by });
        self
    }

    /// A passed frame: global packets +1 and bytes += frame length, and
    /// drop_malformed +1 if `malformed`.
    pub fn passed(self, malformed: bool) -> Self {
        let len = self.input.len() as u64;
        let row =
            self.delta(Scope::Global, Field::Packets, 1)
                .delta(Scope::Global, Field::Bytes, len);
        if malformed {
            row.delta(Scope::Global, Field::DropMalformed, 1)
        } else {
            row
        }
    }

    /// A forwarded frame: packets +1 and bytes += frame length on the VIP and
    /// the backend, and new_flows +1 on both if `new_flow`.
    pub fn forwarded(self, vip: u32, backend: u32, new_flow: bool) -> Self {
        let len = self.input.len() as u64;
        let mut row = self;
        for scope in [Scope::Vip(vip), Scope::Backend(backend)] {
            row = row
                .delta(scope, Field::Packets, 1)
                .delta(scope, Field::Bytes, len);
            if new_flow {
                row = row.delta(scope, Field::NewFlows, 1);
            }
        }
        row
    }

    /// The same counter moving by `by` on the VIP and the backend.
    pub fn both(self, vip: u32, backend: u32, field: Field, by: u64) -> Self {
        self.delta(Scope::Vip(vip), field, by)
            .delta(Scope::Backend(backend), field, by)
    }

    pub fn flow(mut self, key: FlowKey, check: FlowCheck) -> Self {
        self.flow = Some((key, check));
        self
    }

    /// Runs the row against `dp`; `Err` says every way it differed.
    pub fn run(&self, dp: &mut Dataplane) -> Result<String, String> {
        for s in &self.setup {
            s.apply(dp).map_err(|e| format!("setup {s:?}: {e:#}"))?;
        }
        let before = dp.counters().map_err(|e| format!("{e:#}"))?;
        let mut problems = Vec::new();
        let got = match dp.try_run(&self.input) {
            Ok(run) => Ok(run),
            Err(e) => match errno(&e) {
                Some(n) => Err(n),
                None => return Err(format!("test run: {e}")),
            },
        };
        let summary = match (&self.expect, &got) {
            (Expect::Rejected(want), Err(n)) if want == n => format!("kernel: errno {n}"),
            (Expect::Rejected(want), _) => {
                problems.push(format!(
                    "expected the kernel to refuse (errno {want}), got {got:?}"
                ));
                String::new()
            }
            (_, Err(n)) => {
                problems.push(format!("the kernel refused the test run: errno {n}"));
                String::new()
            }
            (expect, Ok(run)) => {
                let (verdict, output) = match expect {
                    Expect::Pass => (XDP_PASS, &self.input),
                    Expect::Drop => (XDP_DROP, &self.input),
                    Expect::Tx(bytes) => (XDP_TX, bytes),
                    Expect::Rejected(_) => unreachable!(),
                };
                if run.verdict != verdict {
                    problems.push(format!(
                        "verdict: expected {}, got {}",
                        verdict_name(verdict),
                        verdict_name(run.verdict)
                    ));
                }
                if &run.output != output {
                    problems.push(format!(
                        "output differs from the expected {} bytes at {:?}",
                        output.len(),
                        diff_at(output, &run.output)
                    ));
                }
                verdict_name(run.verdict)
            }
        };
        let after = dp.counters().map_err(|e| format!("{e:#}"))?;
        let moved = after.since(&before);
        let want = normalise(self.deltas.clone());
        if moved != want {
            problems.push(format!(
                "counters: expected [{}], got [{}]",
                list(&want),
                list(&moved)
            ));
        }
        if let Some((key, check)) = &self.flow {
            let entry = dp.flow(key).map_err(|e| format!("{e:#}"))?;
            let handshake = dp.handshake(key).map_err(|e| format!("{e:#}"))?;
            let got = match (entry, handshake) {
                (Some(f), _) => FlowCheck::Entry {
                    backend: f.backend_id,
                    flags: f.flags,
                },
                (None, Some(h)) => FlowCheck::Handshake {
                    backend: h.backend_id,
                },
                (None, None) => FlowCheck::Absent,
            };
            if got != *check {
                problems.push(format!("flow entry: expected {check:?}, got {got:?}"));
            }
        }
        if problems.is_empty() && moved.is_empty() {
            Ok(format!("{summary}; no counter moved"))
        } else if problems.is_empty() {
            Ok(format!("{summary}; {}", list(&moved)))
        } else {
            Err(problems.join("\n      "))
        }
    }
}

fn list(deltas: &[Delta]) -> String {
    deltas
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The first byte offsets where two frames differ (and their lengths if those do).
fn diff_at(want: &[u8], got: &[u8]) -> String {
    let mut at: Vec<String> = (0..want.len().min(got.len()))
        .filter(|&i| want[i] != got[i])
        .take(8)
        .map(|i| format!("{i}: {:#04x}!={:#04x}", got[i], want[i]))
        .collect();
    if want.len() != got.len() {
        at.push(format!("length {} != {}", got.len(), want.len()));
    }
    at.join(", ")
}

/// Runs `rows` in order against one `dp` (rows may rely on state earlier rows
/// left), prints each, and panics listing every failed row.
pub fn run_table(dp: &mut Dataplane, rows: &[Row]) -> usize {
    run_each(
        "fixture",
        rows.iter().map(|row| (row.desc.as_str(), row.run(dp))),
    )
}

/// Prints each row's result as it comes (`kind` names the table in the
/// panic), and panics listing every failed row; returns how many rows ran.
pub fn run_each<'a>(
    kind: &str,
    results: impl Iterator<Item = (&'a str, Result<String, String>)>,
) -> usize {
    let (mut ran, mut failed) = (0, Vec::new());
    for (i, (desc, result)) in results.enumerate() {
        ran += 1;
        match result {
            Ok(summary) => println!("[{:>2}] ok   {desc}\n      {summary}", i + 1),
            Err(why) => {
                println!("[{:>2}] FAIL {desc}\n      {why}", i + 1);
                failed.push(format!("[{}] {desc}: {why}", i + 1));
            }
        }
    }
    assert!(
        failed.is_empty(),
        "{} of {ran} {kind} rows failed:\n{}",
        failed.len(),
        failed.join("\n")
    );
    ran
}
