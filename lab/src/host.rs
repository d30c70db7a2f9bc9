//! One end host's place on the lab's segment: its namespace, its veth and
//! the addresses it answers to. Every other room of the lab builds on it.

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::{addr, netns::Netns};

/// One end host's place on the segment.
#[derive(Clone, Debug)]
pub struct Host {
    /// Namespace name.
    pub ns: String,
    /// Its veth, inside its namespace.
    pub iface: String,
    pub ipv4: Ipv4Addr,
    pub ipv6: Option<Ipv6Addr>,
    pub mac: String,
}

impl Host {
    /// Host part `h` of the segment's address plan ([`addr`]): its IPv4
    /// address, its IPv6 address when the lab has IPv6, its MAC; `iface` is
    /// its veth inside `ns`.
    pub(crate) fn on_segment(ns: &Netns, iface: &str, h: u8, ipv6: bool) -> Host {
        Host {
            ns: ns.name().to_owned(),
            iface: iface.to_owned(),
            ipv4: addr::v4(h),
            ipv6: ipv6.then(|| addr::v6(h)),
            mac: addr::mac(h),
        }
    }
}
