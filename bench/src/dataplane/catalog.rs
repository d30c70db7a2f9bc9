//! The cases of part 1: the frames, and which program runs each and what
//! its path must give.

use std::net::IpAddr;

use lb_common::flow::FlowKey;

use super::{
    FLOWS_PRESENT,
    cases::{Effect, PerCall, Stable, Table},
    figure::{Figure as F, Program as P},
    setup::{Snapshot, VIP_TCP4, VIP_TCP6, VIP_UDP4, VIP4, VIP6, backend_mac, ref_mac},
};
use crate::{
    clients,
    packet::{L4, Spec, TCP_PSH_ACK, TCP_SYN},
    xdp::{XDP_PASS, XDP_TX},
};

/// Client indices of the fixed flows (after the prefilled ones) and of the
/// first fresh client.
pub const SPECIAL: u32 = FLOWS_PRESENT;
pub const FIRST_FRESH: u32 = FLOWS_PRESENT + 100_000;

/// Backend of each fixed flow.
const B_EST4: u32 = 3;
const B_UDP4: u32 = 4;
const B_EST6: u32 = 5;
const B_VLAN4: u32 = 6;

/// The frames of the cases.
pub struct Frames {
    est4: Spec,
    udp4: Spec,
    est6: Spec,
    vlan4: Spec,
    nonvip: Spec,
    nonvip_port: Spec,
    syn4: Spec,
}

impl Frames {
    pub fn new() -> Self {
        let (c4, p4) = clients::v4(SPECIAL);
        let est4 = Spec {
            src: c4,
            dst: IpAddr::V4(VIP4),
            sport: p4,
            dport: 80,
            l4: L4::Tcp { flags: TCP_PSH_ACK },
            payload: 100,
            vlan: None,
        };
        let (c, p) = clients::v4(SPECIAL + 1);
        let udp4 = Spec {
            dport: 53,
            l4: L4::Udp,
            payload: 40,
            ..est4.with_client(c, p)
        };
        let (c, p) = clients::v6(SPECIAL + 2);
        let est6 = Spec {
            dst: IpAddr::V6(VIP6),
            ..est4.with_client(c, p)
        };
        let (c, p) = clients::v4(SPECIAL + 3);
        let vlan4 = Spec {
            vlan: Some(100),
            ..est4.with_client(c, p)
        };
        let (c, p) = clients::v4(SPECIAL + 4);
        let nonvip = Spec {
            dst: "198.51.100.99".parse().expect("an address"),
            dport: 22,
            l4: L4::Tcp { flags: TCP_SYN },
            payload: 0,
            ..est4.with_client(c, p)
        };
        let (c, p) = clients::v4(SPECIAL + 5);
        let nonvip_port = Spec {
            dport: 80,
            ..nonvip.with_client(c, p)
        };
        let syn4 = Spec {
            l4: L4::Tcp { flags: TCP_SYN },
            payload: 0,
            ..est4
        };
        Self {
            est4,
            udp4,
            est6,
            vlan4,
            nonvip,
            nonvip_port,
            syn4,
        }
    }

    /// The fixed flows and their backends.
    pub fn flows(&self) -> [(FlowKey, u32); 4] {
        [
            (self.est4.key(), B_EST4),
            (self.udp4.key(), B_UDP4),
            (self.est6.key(), B_EST6),
            (self.vlan4.key(), B_VLAN4),
        ]
    }
}

fn stable(name: F, prog: P, spec: &Spec, verdict: u32, effect: Effect) -> Stable {
    Stable {
        name,
        prog,
        frame: spec.build(),
        verdict,
        effect,
        per_run: None,
    }
}

/// `lb` forwarding an established flow of `spec` on `vip_id` to `backend`.
fn lb_hit(name: F, spec: &Spec, vip_id: u32, backend: u32) -> Stable {
    let frame = spec.build();
    let mut per_run = Snapshot::zero();
    per_run.forwarded(vip_id, backend, 1, frame.len(), 0);
    Stable {
        name,
        prog: P::Lb,
        frame,
        verdict: XDP_TX,
        effect: Effect::Forward(backend_mac(backend)),
        per_run: Some(per_run),
    }
}

/// `lb` passing a packet that is not for a VIP.
fn lb_pass(name: F, spec: &Spec) -> Stable {
    let mut pass = stable(name, P::Lb, spec, XDP_PASS, Effect::Unchanged);
    let mut per_run = Snapshot::zero();
    // A passed packet counts once in the global slot, with its bytes.
    per_run.global().packets = 1;
    per_run.global().bytes = pass.frame.len() as u64;
    pass.per_run = Some(per_run);
    pass
}

/// A reference flow lookup that hits the flow of `spec` (value `backend`).
fn ref_hit(name: F, prog: P, spec: &Spec, backend: u32) -> Stable {
    stable(name, prog, spec, XDP_TX, Effect::Forward(ref_mac(backend)))
}

/// Every case, by phase: stable and per-call cases with the tables not full
/// (a), and with them full (b).
pub struct Catalog {
    pub stable_a: Vec<Stable>,
    pub per_call_a: Vec<PerCall>,
    pub stable_b: Vec<Stable>,
    pub per_call_b: Vec<PerCall>,
}

impl Catalog {
    pub fn new(f: &Frames) -> Self {
        let nonvip = lb_pass(F::Nonvip, &f.nonvip);
        let nonvip_port = lb_pass(F::NonvipPort, &f.nonvip_port);
        let floor = stable(F::Floor, P::Floor, &f.est4, XDP_TX, Effect::SwapMacs);
        let floor_flow = ref_hit(F::FloorFlow, P::FloorFlow, &f.est4, B_EST4);
        let established = lb_hit(F::Established, &f.est4, VIP_TCP4, B_EST4);
        let stable_a = vec![
            stable(F::XdpPass, P::XdpPass, &f.est4, XDP_PASS, Effect::Unchanged),
            floor.clone(),
            stable(F::FloorUdp, P::Floor, &f.udp4, XDP_TX, Effect::SwapMacs),
            stable(F::FloorIpv6, P::Floor, &f.est6, XDP_TX, Effect::SwapMacs),
            stable(F::FloorVlan, P::Floor, &f.vlan4, XDP_TX, Effect::SwapMacs),
            floor_flow.clone(),
            ref_hit(F::FloorFlow4, P::FloorFlow4, &f.est4, B_EST4),
            ref_hit(F::FloorFlowUdp, P::FloorFlow, &f.udp4, B_UDP4),
            ref_hit(F::FloorFlowIpv6, P::FloorFlow, &f.est6, B_EST6),
            ref_hit(F::FloorFlowVlan, P::FloorFlow, &f.vlan4, B_VLAN4),
            ref_hit(F::FloorFlowPcpu, P::FloorFlowPcpu, &f.est4, B_EST4),
            ref_hit(F::FloorFlowVip, P::FloorFlowVip, &f.est4, B_EST4),
            ref_hit(F::FloorFlowClk, P::FloorFlowClk, &f.est4, B_EST4),
            ref_hit(F::FloorFlowCclk, P::FloorFlowCclk, &f.est4, B_EST4),
            ref_hit(F::FloorFlowJif, P::FloorFlowJif, &f.est4, B_EST4),
            established.clone(),
            lb_hit(F::Udp, &f.udp4, VIP_UDP4, B_UDP4),
            lb_hit(F::Ipv6, &f.est6, VIP_TCP6, B_EST6),
            lb_hit(F::Vlan, &f.vlan4, VIP_TCP4, B_VLAN4),
            nonvip,
            nonvip_port,
        ];
        let renamed = |s: &Stable, name: F| Stable { name, ..s.clone() };
        let new_client = |name, table| PerCall::NewClient {
            name,
            table,
            template: f.syn4,
        };
        let per_call_a = vec![
            PerCall::Same(renamed(&floor, F::FloorR1)),
            PerCall::Same(renamed(&floor_flow, F::FloorFlowR1)),
            PerCall::Same(renamed(&established, F::EstablishedR1)),
            PerCall::Spread {
                name: F::FloorFlowSpread,
                table: Table::Common,
                template: f.est4,
                flows: FLOWS_PRESENT,
            },
            PerCall::Spread {
                name: F::EstablishedSpread,
                table: Table::Lb,
                template: f.est4,
                flows: FLOWS_PRESENT,
            },
            new_client(F::NewFlow, Table::Lb),
            PerCall::Confirm {
                name: F::Confirm,
                template: f.est4,
            },
            new_client(F::FloorFlowInsert, Table::Common),
            new_client(F::FloorFlowPcpuInsert, Table::Pcpu),
        ];
        let stable_b = vec![
            renamed(&floor, F::FullFloor),
            renamed(&floor_flow, F::FullFloorFlow),
            ref_hit(F::FullFloorFlowPcpu, P::FloorFlowPcpu, &f.est4, B_EST4),
        ];
        let per_call_b = vec![
            PerCall::Same(renamed(&floor, F::FullFloorR1)),
            new_client(F::NewFlowFull, Table::Lb),
            PerCall::Confirm {
                name: F::ConfirmFull,
                template: f.est4,
            },
            new_client(F::FloorFlowInsertFull, Table::Common),
            new_client(F::FloorFlowPcpuInsertFull, Table::Pcpu),
        ];
        Self {
            stable_a,
            per_call_a,
            stable_b,
            per_call_b,
        }
    }
}
