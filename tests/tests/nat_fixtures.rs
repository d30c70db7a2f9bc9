//! NAT fixture rows (`forward = "nat"`, and `"dnat"` in dnat.rs): both directions through
//! BPF_PROG_TEST_RUN, with frames arriving on interfaces of a test namespace
//! whose FIB knows the client and the backends, so the program's
//! `bpf_fib_lookup` gives fixed answers. Every forwarded frame is compared
//! byte for byte with one the packet builder made (checksums computed from
//! scratch), and its checksums are verified again over the output bytes.
//!
//! Run: `cargo test -p lb-tests --test nat_fixtures -- --nocapture` (as root).

#[path = "nat_fixtures/dnat.rs"]
mod dnat;
#[path = "nat_fixtures/failures.rs"]
mod failures;
#[path = "nat_fixtures/fuzz.rs"]
mod fuzz;
#[path = "nat_fixtures/translation.rs"]
mod translation;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use lb_common::{
    backend::STATE_ACTIVE,
    flow::FlowKey,
    vip::{PROTO_TCP, PROTO_UDP},
};
use lb_tests::{
    dataplane::Dataplane,
    nat::{self, NatLab, PORT_MAX, PORT_MIN},
    standard::{CLIENT4, CLIENT6, VIP4, VIP6},
};

pub const V_TCP4: u32 = 0;
pub const V_UDP4: u32 = 1;
pub const V_TCP6: u32 = 2;
pub const V_UDP6: u32 = 3;
pub const V_NO_NEIGH: u32 = 4;
pub const V_NO_ROUTE: u32 = 5;
pub const V_SMALL: u32 = 6;

pub const VIP_NO_NEIGH: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 20));
pub const VIP_NO_ROUTE: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 30));
pub const VIP_SMALL: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 40));

/// (vip id, VIP address, VIP port, protocol, backend id, backend address, backend port)
type NatVip = (u32, IpAddr, u16, u8, u32, IpAddr, u16);

pub const B1: IpAddr = IpAddr::V4(Ipv4Addr::new(203, 0, 113, 11));
pub const B2: IpAddr = IpAddr::V4(Ipv4Addr::new(203, 0, 113, 12));
pub const B3: IpAddr = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0xb, 0, 0, 0, 0, 0x13));
pub const B4: IpAddr = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0xb, 0, 0, 0, 0, 0x14));
/// On the backends' subnet, with no neighbour entry.
pub const B5: IpAddr = IpAddr::V4(Ipv4Addr::new(203, 0, 113, 50));
/// No route to it in the namespace.
pub const B6: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 200));
pub const B7: IpAddr = IpAddr::V4(Ipv4Addr::new(203, 0, 113, 17));

pub const VIPS: [NatVip; 7] = [
    (V_TCP4, VIP4, 80, PROTO_TCP, 1, B1, 8000),
    (V_UDP4, VIP4, 53, PROTO_UDP, 2, B2, 5353),
    (V_TCP6, VIP6, 443, PROTO_TCP, 3, B3, 8443),
    (V_UDP6, VIP6, 53, PROTO_UDP, 4, B4, 5353),
    (V_NO_NEIGH, VIP_NO_NEIGH, 80, PROTO_TCP, 5, B5, 8000),
    (V_NO_ROUTE, VIP_NO_ROUTE, 80, PROTO_TCP, 6, B6, 8000),
    (V_SMALL, VIP_SMALL, 80, PROTO_TCP, 7, B7, 8000),
];

/// The port the allocator gives a new flow of `key` when the ports of
/// `taken` are held for its backend: the first free one of the consecutive
/// candidates from `hash % len` (one source address).
pub fn alloc_port(key: &FlowKey, min: u16, max: u16, taken: &[u16]) -> Option<u16> {
    let len = u32::from(max - min + 1);
    (0..lb_common::nat::NAT_PORT_TRIES.min(len))
        .map(|i| min + ((key.hash().wrapping_add(i)) % len) as u16)
        .find(|p| !taken.contains(p))
}

/// The backends with a neighbour entry in the namespace (5 has none, 6 no route).
pub const NEIGHBOURS: [(u32, IpAddr); 5] = [(1, B1), (2, B2), (3, B3), (4, B4), (7, B7)];

/// The standard NAT data plane: every VIP of [`VIPS`] with its one backend.
pub fn dataplane() -> anyhow::Result<Dataplane> {
    let mut dp = Dataplane::new()?;
    for (vip, addr, port, proto, id, b, bport) in VIPS {
        nat::add_vip(&mut dp, vip, addr, port, proto)?;
        nat::set_backend(&mut dp, id, b, bport, STATE_ACTIVE)?;
        dp.publish(vip, &[id])?;
    }
    nat::set_config(&mut dp, nat::config(PORT_MIN, PORT_MAX))?;
    Ok(dp)
}

#[test]
fn nat_fixture_table() {
    let lab = NatLab::create("natfix", &NEIGHBOURS, CLIENT4, CLIENT6)
        .expect("the NAT fixtures' namespace (root needed)");
    let name = lab.ns.name().to_owned();
    let n = lb_tests::netns::run_in(&lab.ns, || {
        let mut dp = dataplane()?;
        let mut n = translation::run(&lab, &mut dp)?;
        n += nat::run_rows(&dp, &failures::rows(&lab));
        n += failures::exhaustion(&lab, &mut dp)?;
        n += dnat::run(&lab)?;
        Ok(n)
    })
    .expect("running the NAT rows");
    drop(lab);
    assert!(!lb_tests::netns::exists(&name), "{name} was left behind");
    println!("{n} NAT fixture rows passed");
}
