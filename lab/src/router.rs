//! The fleet lab's router: on the segment in the client's place (.1), the
//! client behind it on a link of its own, forwarding with L4 multipath
//! hashing, so the ECMP route BIRD installs for the VIP spreads flows over
//! the LB nodes by 5-tuple.
//!
//! ```text
//! client 192.0.2.2 ── 192.0.2.1 router 198.51.100.1 ── bridge ── LB nodes, backends, etcd
//! ```

use std::net::Ipv4Addr;

use anyhow::{Context as _, Result, ensure};

use crate::{
    addr,
    netns::Netns,
    topology::{Host, Lab},
    wiring::offloads_off,
};

/// The client's link (TEST-NET-1): router .1, client .2.
const CLIENT_LINK_PREFIX_LEN: u8 = 24;
pub fn client_link_router() -> Ipv4Addr {
    Ipv4Addr::new(192, 0, 2, 1)
}

/// The client behind the router.
pub(crate) fn client_host(client: &Netns) -> Host {
    Host {
        ns: client.name().to_owned(),
        iface: "lab-client".into(),
        ipv4: Ipv4Addr::new(192, 0, 2, 2),
        ipv6: None,
        mac: "02:00:00:00:02:02".into(),
    }
}

/// The router's own place on the segment.
pub(crate) fn router_host(router: &Netns) -> Host {
    Host {
        ns: router.name().to_owned(),
        iface: "lab-router".into(),
        ipv4: addr::v4(addr::CLIENT_HOST),
        ipv6: None,
        mac: addr::mac(addr::CLIENT_HOST),
    }
}

impl Lab {
    pub(crate) fn wire_router(&self) -> Result<()> {
        ensure!(!self.spec.ipv6, "the fleet lab is IPv4 only");
        let router = self.router.as_ref().context("no router namespace")?;
        self.plug(router, &router_host(router), "sw-router")?;
        let client = &self.client_host;
        router.ip(&[
            "link",
            "add",
            "rt-client",
            "type",
            "veth",
            "peer",
            "name",
            &client.iface,
            "address",
            &client.mac,
            "netns",
            &client.ns,
        ])?;
        let router_addr = format!("{}/{CLIENT_LINK_PREFIX_LEN}", client_link_router());
        router.ip(&["addr", "add", &router_addr, "dev", "rt-client"])?;
        router.ip(&["link", "set", "rt-client", "up"])?;
        offloads_off(router, "rt-client")?;
        self.client.sysctl(&[
            ("net.ipv6.conf.all.disable_ipv6", "1"),
            ("net.ipv6.conf.default.disable_ipv6", "1"),
            ("net.ipv4.ip_local_port_range", "1024 65535"),
        ])?;
        let client_addr = format!("{}/{CLIENT_LINK_PREFIX_LEN}", client.ipv4);
        self.client
            .ip(&["addr", "add", &client_addr, "dev", &client.iface])?;
        self.client.ip(&["link", "set", &client.iface, "up"])?;
        offloads_off(&self.client, &client.iface)?;
        self.client.ip(&[
            "route",
            "add",
            "default",
            "via",
            &client_link_router().to_string(),
        ])?;
        // Policy 1: hash source and destination address, ports and protocol
        // (the default, 0, hashes addresses only: one client would land on
        // one node). No redirects: the backends' replies cross the router
        // on purpose. No reverse-path filter: a VIP's replies come from the
        // segment while the VIP's route points at the LB nodes on it.
        router.sysctl(&[
            ("net.ipv4.ip_forward", "1"),
            ("net.ipv4.fib_multipath_hash_policy", "1"),
            ("net.ipv6.fib_multipath_hash_policy", "1"),
            ("net.ipv4.conf.all.send_redirects", "0"),
            ("net.ipv4.conf.default.send_redirects", "0"),
            ("net.ipv4.conf.all.rp_filter", "0"),
            ("net.ipv4.conf.default.rp_filter", "0"),
        ])
    }
}
