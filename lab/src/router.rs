//! The fleet lab's router: on the segment in the client's place (.1), the
//! client behind it on a link of its own, forwarding with L4 multipath
//! hashing, so the ECMP route BIRD installs for the VIP spreads flows over
//! the LB nodes by 5-tuple.
//!
//! ```text
//! client 192.0.2.2 ── 192.0.2.1 router 198.51.100.1 ── bridge ── LB nodes, backends, etcd
//!  2001:db8:2::2      2001:db8:2::1    2001:db8:100::1
//! ```
//!
//! With IPv6 ([`crate::LabSpec::ipv6`]) the client link has a /64 of
//! 2001:db8::/32 too, and the router forwards and hashes IPv6 the same way.

use std::net::{Ipv4Addr, Ipv6Addr};

use anyhow::{Context as _, Result};

use crate::{addr, host::Host, netns::Netns, topology::Lab, wiring::offloads_off};

/// The client's link (TEST-NET-1): router .1, client .2.
const CLIENT_LINK_PREFIX_LEN: u8 = 24;
pub fn client_link_router() -> Ipv4Addr {
    Ipv4Addr::new(192, 0, 2, 1)
}

/// The client link's IPv6 prefix (2001:db8:2::/64): router ::1, client ::2.
const CLIENT_LINK_PREFIX_LEN_V6: u8 = 64;
pub fn client_link_router6() -> Ipv6Addr {
    Ipv6Addr::new(0x2001, 0xdb8, 2, 0, 0, 0, 0, 1)
}

/// The client behind the router (with an IPv6 address when `ipv6`).
pub(crate) fn client_host(client: &Netns, ipv6: bool) -> Host {
    Host {
        ns: client.name().to_owned(),
        iface: "lab-client".into(),
        ipv4: Ipv4Addr::new(192, 0, 2, 2),
        ipv6: ipv6.then(|| Ipv6Addr::new(0x2001, 0xdb8, 2, 0, 0, 0, 0, 2)),
        mac: "02:00:00:00:02:02".into(),
    }
}

/// The router's own place on the segment.
fn router_host(router: &Netns, ipv6: bool) -> Host {
    Host::on_segment(router, "lab-router", addr::CLIENT_HOST, ipv6)
}

impl Lab {
    pub(crate) fn wire_router(&self) -> Result<()> {
        let ipv6 = self.spec.ipv6;
        let router = self.router.as_ref().context("no router namespace")?;
        self.plug(router, &router_host(router, ipv6), "sw-router")?;
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
        let mut client_sysctls = vec![("net.ipv4.ip_local_port_range", "1024 65535")];
        if !ipv6 {
            client_sysctls.extend([
                ("net.ipv6.conf.all.disable_ipv6", "1"),
                ("net.ipv6.conf.default.disable_ipv6", "1"),
            ]);
        }
        self.client.sysctl(&client_sysctls)?;
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
        if let Some(client6) = client.ipv6 {
            self.wire_client_link6(router, client6)?;
        }
        // Policy 1: hash source and destination address, ports and protocol
        // (the default, 0, hashes addresses only: one client would land on
        // one node). No redirects: the backends' replies cross the router
        // on purpose. No reverse-path filter: a VIP's replies come from the
        // segment while the VIP's route points at the LB nodes on it.
        let mut s = vec![
            ("net.ipv4.ip_forward", "1"),
            ("net.ipv4.fib_multipath_hash_policy", "1"),
            ("net.ipv6.fib_multipath_hash_policy", "1"),
            ("net.ipv4.conf.all.send_redirects", "0"),
            ("net.ipv4.conf.default.send_redirects", "0"),
            ("net.ipv4.conf.all.rp_filter", "0"),
            ("net.ipv4.conf.default.rp_filter", "0"),
        ];
        if ipv6 {
            // IPv6 has no rp_filter or send_redirects sysctl to clear here.
            s.push(("net.ipv6.conf.all.forwarding", "1"));
        }
        router.sysctl(&s)
    }

    /// The client link's IPv6 addresses (no DAD: usable at once) and the
    /// client's default route through the router.
    fn wire_client_link6(&self, router: &Netns, client6: Ipv6Addr) -> Result<()> {
        let router6 = format!("{}/{CLIENT_LINK_PREFIX_LEN_V6}", client_link_router6());
        router.ip(&["-6", "addr", "add", &router6, "dev", "rt-client", "nodad"])?;
        let client_addr = format!("{client6}/{CLIENT_LINK_PREFIX_LEN_V6}");
        let iface = &self.client_host.iface;
        self.client
            .ip(&["-6", "addr", "add", &client_addr, "dev", iface, "nodad"])?;
        self.client.ip(&[
            "-6",
            "route",
            "add",
            "default",
            "via",
            &client_link_router6().to_string(),
        ])?;
        Ok(())
    }
}
