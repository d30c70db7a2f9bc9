//! The lab's L2 segment: the bridge, one veth per host, addresses, routes
//! and sysctls (what [`Lab::up`] wires between creating the namespaces and
//! starting the backends).
//!
//! Interfaces are created inside the lab's namespaces (`ip -n SWITCH link add
//! ... peer ... netns HOST`), never in the host's own, and carry `lab-`/`sw-`
//! names no real host has, so a mistake cannot touch a real NIC.

use std::sync::Arc;

use anyhow::{Context as _, Result, ensure};

use crate::{addr, host::Host, netns::Netns, topology::Lab};

pub(crate) const BRIDGE: &str = "lab-br";

impl Lab {
    /// A plain switch: no IP, no netfilter on bridged frames (br_netfilter is
    /// on in every new namespace and silently drops what it dislikes), no
    /// multicast snooping (IPv6 neighbour discovery is flooded like a hub).
    pub(crate) fn build_switch(&self) -> Result<()> {
        self.switch.sysctl(&[
            ("net.bridge.bridge-nf-call-iptables", "0"),
            ("net.bridge.bridge-nf-call-ip6tables", "0"),
            ("net.bridge.bridge-nf-call-arptables", "0"),
        ])?;
        self.switch.ip(&[
            "link",
            "add",
            BRIDGE,
            "type",
            "bridge",
            "mcast_snooping",
            "0",
        ])?;
        self.switch.ip(&["link", "set", BRIDGE, "up"])?;
        Ok(())
    }

    /// A veth from the bridge (`port`, in the switch ns) to `host` (inside
    /// `ns`), with the host's MAC and addresses.
    pub(crate) fn plug(&self, ns: &Netns, host: &Host, port: &str) -> Result<()> {
        ensure!(
            port.len() <= 15 && host.iface.len() <= 15,
            "interface name too long"
        );
        self.switch.ip(&[
            "link",
            "add",
            port,
            "type",
            "veth",
            "peer",
            "name",
            &host.iface,
            "address",
            &host.mac,
            "netns",
            ns.name(),
        ])?;
        self.switch
            .ip(&["link", "set", port, "master", BRIDGE, "up"])?;
        if !self.spec.ipv6 {
            // No IPv6 at all: no router solicitations or MLD reports reaching
            // the XDP program and its counters.
            ns.sysctl(&[
                ("net.ipv6.conf.all.disable_ipv6", "1"),
                ("net.ipv6.conf.default.disable_ipv6", "1"),
            ])?;
        }
        let v4 = format!("{}/{}", host.ipv4, addr::PREFIX_LEN_V4);
        ns.ip(&["addr", "add", &v4, "dev", &host.iface])?;
        if let Some(v6) = host.ipv6 {
            // nodad: usable at once instead of ~1 s of tentative state.
            let v6 = format!("{v6}/{}", addr::PREFIX_LEN_V6);
            ns.ip(&["-6", "addr", "add", &v6, "dev", &host.iface, "nodad"])?;
        }
        ns.ip(&["link", "set", &host.iface, "up"])?;
        offloads_off(ns, &host.iface)?;
        offloads_off(&self.switch, port)?;
        Ok(())
    }

    /// Deletes the LB's veth (both ends: its namespace loses the interface and
    /// every neighbour entry on it, as when a NIC or its namespace is
    /// replaced) and plugs a new one with the same name, MAC and addresses.
    /// An XDP program attached to the old interface is attached to nothing.
    pub fn replug_lb(&self) -> Result<()> {
        self.switch.ip(&["link", "del", "sw-lb"])?;
        self.plug(&Arc::clone(&self.lb), &self.lb_host.clone(), "sw-lb")?;
        // The new interface's own settings (NAT's accept_local, rp_filter,
        // redirects) start from the defaults again.
        self.setup_lb()
    }

    /// VIP traffic goes to the LB's MAC (a host route via the LB); replies
    /// come straight from the backends. A wide port range lets load tools
    /// open many short connections without reusing ports.
    pub(crate) fn setup_client(&self) -> Result<()> {
        self.client
            .sysctl(&[("net.ipv4.ip_local_port_range", "1024 65535")])?;
        let lb = self.lb_host.ipv4.to_string();
        let mut vips = vec![addr::vip()];
        let mut vips6 = vec![addr::vip6()];
        if self.is_mixed() {
            vips.push(addr::nat_vip());
            vips6.push(addr::nat_vip6());
        }
        for vip in vips {
            self.client
                .ip(&["route", "add", &format!("{vip}/32"), "via", &lb])?;
        }
        if let Some(lb6) = self.lb_host.ipv6 {
            for vip6 in vips6 {
                self.client.ip(&[
                    "-6",
                    "route",
                    "add",
                    &format!("{vip6}/128"),
                    "via",
                    &lb6.to_string(),
                ])?;
            }
        }
        Ok(())
    }

    /// Without NAT backends the LB never routes: anything XDP does not
    /// forward stops there. With them, the kernel forwards what the program
    /// passes it: a translated packet (its source a local address, hence
    /// accept_local, and rp_filter off) whose next hop has no neighbour entry
    /// yet, going back out of the interface it came in on (no redirects).
    pub(crate) fn setup_lb(&self) -> Result<()> {
        let forward = if self.nat_backends > 0 { "1" } else { "0" };
        let iface = &self.lb_host.iface;
        let (local, rp, redirects) = (
            format!("net.ipv4.conf.{iface}.accept_local"),
            format!("net.ipv4.conf.{iface}.rp_filter"),
            format!("net.ipv4.conf.{iface}.send_redirects"),
        );
        let mut s = vec![("net.ipv4.ip_forward", forward)];
        if self.nat_backends > 0 {
            s.extend([
                ("net.ipv4.conf.all.accept_local", "1"),
                (local.as_str(), "1"),
                ("net.ipv4.conf.all.rp_filter", "0"),
                (rp.as_str(), "0"),
                ("net.ipv4.conf.all.send_redirects", "0"),
                (redirects.as_str(), "0"),
            ]);
        }
        if self.spec.ipv6 {
            s.push(("net.ipv6.conf.all.forwarding", forward));
        }
        self.lb.sysctl(&s)?;
        if self.dnat {
            // The DNAT backends' gateway, on the same interface.
            let v4 = format!("{}/{}", addr::routed_v4(addr::LB_HOST), addr::PREFIX_LEN_V4);
            self.lb.ip(&["addr", "add", &v4, "dev", iface])?;
            if self.spec.ipv6 {
                let v6 = format!("{}/{}", addr::routed_v6(addr::LB_HOST), addr::PREFIX_LEN_V6);
                self.lb
                    .ip(&["-6", "addr", "add", &v6, "dev", iface, "nodad"])?;
            }
        }
        Ok(())
    }

    /// L2 DSR backend: the VIP on `lo`, never answered for in ARP
    /// (arp_ignore=1: only addresses of the asking interface; arp_announce=2:
    /// never the VIP as ARP source). IPv6 answers neighbour solicitations only
    /// for the receiving interface's own addresses already. bindv6only lets
    /// Gunicorn bind 0.0.0.0:80 and [::]:80 side by side. A NAT backend
    /// (`nat`) gets only bindv6only: nothing of DSR's.
    pub(crate) fn setup_backend_net(&self, ns: &Netns, host: &Host, nat: bool) -> Result<()> {
        let iface_ignore = format!("net.ipv4.conf.{}.arp_ignore", host.iface);
        let iface_announce = format!("net.ipv4.conf.{}.arp_announce", host.iface);
        let mut s = Vec::new();
        if !nat {
            s.extend([
                ("net.ipv4.conf.all.arp_ignore", "1"),
                ("net.ipv4.conf.all.arp_announce", "2"),
                (iface_ignore.as_str(), "1"),
                (iface_announce.as_str(), "2"),
            ]);
        }
        if self.spec.ipv6 {
            s.push(("net.ipv6.bindv6only", "1"));
        }
        if !s.is_empty() {
            ns.sysctl(&s)?;
        }
        if self.dnat {
            // Replies to the client go through the LB, which translates them.
            let via = addr::routed_v4(addr::LB_HOST).to_string();
            ns.ip(&["route", "add", "default", "via", &via])?;
            if self.spec.ipv6 {
                let via6 = addr::routed_v6(addr::LB_HOST).to_string();
                ns.ip(&["-6", "route", "add", "default", "via", &via6])?;
            }
        }
        if nat {
            return Ok(());
        }
        if self.router.is_some() {
            // DSR replies to clients behind the fleet's router go through it.
            let via = addr::v4(addr::CLIENT_HOST).to_string();
            ns.ip(&["route", "add", "default", "via", &via])?;
            if self.spec.ipv6 {
                let via6 = addr::v6(addr::CLIENT_HOST).to_string();
                ns.ip(&["-6", "route", "add", "default", "via", &via6])?;
            }
        }
        ns.ip(&["addr", "add", &format!("{}/32", addr::vip()), "dev", "lo"])?;
        if self.spec.ipv6 {
            ns.ip(&[
                "-6",
                "addr",
                "add",
                &format!("{}/128", addr::vip6()),
                "dev",
                "lo",
                "nodad",
            ])?;
        }
        Ok(())
    }
}

/// Offloads off on both ends of every veth: with TSO/GSO on, a client hands
/// its veth TCP super-frames of up to 64 KB and GRO merges frames, so the XDP
/// program would see a few huge frames where a real NIC delivers wire-sized
/// ones. Not needed for correctness (checked: 1 MB POSTs through the VIP, v4
/// and v6, passed with offloads on, ~30 KB per frame through generic XDP and
/// XDP_TX), but per-packet counters and the per-packet CPU the benchmarks
/// measure are only meaningful with real frame sizes.
pub(crate) fn offloads_off(ns: &Netns, iface: &str) -> Result<()> {
    ns.run(&[
        "ethtool", "-K", iface, "tso", "off", "gso", "off", "gro", "off",
    ])
    .map(drop)
    .with_context(|| format!("offloads off on {iface} in {}", ns.name()))
}
