//! `daemon.nat_source` and the NAT keys of VIPs and backends: the addresses
//! NAT'd connections come from, checked in the file (families, duplicates)
//! and, where the interface is known (daemon start, reload, `lb check`),
//! against the interface's own addresses ([`resolve`]).

use std::net::IpAddr;

use lb_common::nat::NAT_SOURCES_PER_FAMILY;

use super::{
    check::{Checked, check_address},
    error::Problem,
    locate::KeyPath,
    model::{Config, Forward, NatHost},
    raw::AddrList,
};

/// `daemon.nat_source` as written: unicast addresses, each once.
pub(super) fn sources(raw: Option<AddrList>, at: &KeyPath) -> Checked<Vec<IpAddr>> {
    let addrs = raw.unwrap_or_default().0;
    for (i, addr) in addrs.iter().enumerate() {
        check_address(*addr, at)?;
        if addrs[..i].contains(addr) {
            return Err(Problem::new(at.clone(), format!("{addr} is listed twice")));
        }
        let same_family = addrs[..=i].iter().filter(|a| a.is_ipv4() == addr.is_ipv4());
        if same_family.count() > NAT_SOURCES_PER_FAMILY {
            return Err(Problem::new(
                at.clone(),
                format!(
                    "at most {NAT_SOURCES_PER_FAMILY} {} addresses, got more",
                    family(*addr)
                ),
            ));
        }
    }
    Ok(addrs)
}

/// `[[vip.backend]] port`: only NAT and DNAT rewrite the port, so on a DSR
/// VIP the backend listens on the VIP's port and a different one would be
/// ignored.
pub(super) fn backend_port(
    port: Option<u16>,
    forward: Forward,
    vip_port: u16,
    at: &KeyPath,
) -> Checked<u16> {
    match (port, forward) {
        (None, _) => Ok(vip_port),
        (Some(_), Forward::Dsr) => Err(Problem::new(
            at.clone(),
            "`port` applies only to a VIP with forward = \"nat\" or \"dnat\" (with DSR the \
             backend serves the VIP's own port); remove it or set forward = \"nat\" on the VIP",
        )),
        (Some(0), Forward::Nat | Forward::Dnat) => Err(Problem::new(
            at.clone(),
            "expected a port in 1..=65535, got 0",
        )),
        (Some(p), Forward::Nat | Forward::Dnat) => Ok(p),
    }
}

/// `[[vip.backend]] mac`: NAT and DNAT route by the kernel's FIB, so a MAC
/// would be a promise the data plane does not keep.
pub(super) fn check_mac(given: bool, forward: Forward, at: &KeyPath) -> Checked<()> {
    if given && forward.translates() {
        return Err(Problem::new(
            at.clone(),
            "`mac` applies only to forward = \"dsr\" (a NAT or DNAT backend is reached \
             through the kernel's routes and neighbours); remove it",
        ));
    }
    Ok(())
}

fn family(addr: IpAddr) -> &'static str {
    if addr.is_ipv4() { "IPv4" } else { "IPv6" }
}

/// Every NAT VIP needs a `nat_source` of its own family when the list is given.
pub(super) fn check_families(config: &Config) -> Checked<()> {
    let given = &config.daemon.nat_source;
    if given.is_empty() {
        return Ok(());
    }
    for vip in &config.vips {
        let covered = given.iter().any(|a| a.is_ipv4() == vip.address.is_ipv4());
        if vip.forward == Forward::Nat && !covered {
            return Err(Problem::new(
                KeyPath::root().key("daemon").key("nat_source"),
                format!(
                    "NAT VIP {:?} ({}) needs an {} nat_source, got only {}",
                    vip.name,
                    vip.address,
                    family(vip.address),
                    given
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
    }
    Ok(())
}

/// The kernel's default `net.ipv4.ip_local_port_range`.
pub const DEFAULT_EPHEMERAL: (u16, u16) = (32768, 60999);

/// Fewest source ports NAT accepts: each is one concurrent connection per
/// backend and source address.
pub const MIN_NAT_PORTS: u32 = 1024;

/// The NAT port range for the kernel's ephemeral range `(low, high)`: the
/// larger of the gaps below it (from 1024, above the privileged ports) and
/// above it. None if neither holds `MIN_NAT_PORTS`.
pub fn port_range(ephemeral: (u16, u16)) -> Option<(u16, u16)> {
    let (low, high) = ephemeral;
    let below = (low > 1024).then(|| (1024, low - 1));
    let above = (high < u16::MAX).then(|| (high + 1, u16::MAX));
    let len = |r: &(u16, u16)| u32::from(r.1) - u32::from(r.0) + 1;
    [below, above]
        .into_iter()
        .flatten()
        .filter(|r| len(r) >= MIN_NAT_PORTS)
        .max_by_key(len)
}

/// An address the interface may source routed traffic from: not IPv6
/// link-local (a backend behind a router could not answer it).
fn usable(addr: &IpAddr) -> bool {
    match addr {
        IpAddr::V4(_) => true,
        IpAddr::V6(a) => !a.is_unicast_link_local(),
    }
}

/// Checks `daemon.nat_source` against `on_interface` (the interface's
/// addresses, in the kernel's order) and resolves the default: the first
/// usable address of each family a NAT VIP uses; and picks the port range
/// outside `ephemeral` (the kernel's `ip_local_port_range`).
pub(super) fn resolve(
    config: &Config,
    on_interface: &[IpAddr],
    ephemeral: (u16, u16),
) -> Checked<NatHost> {
    let interface = &config.daemon.interface;
    let given = &config.daemon.nat_source;
    for addr in given {
        if !on_interface.contains(addr) {
            return Err(Problem::new(
                KeyPath::root().key("daemon").key("nat_source"),
                format!(
                    "{addr} is not an address of interface {interface} (`ip addr show {interface}` \
                     lists them); the backends' replies must come back to it"
                ),
            ));
        }
    }
    let mut sources = Vec::new();
    for want_v4 in [true, false] {
        let Some((i, vip)) = config
            .vips
            .iter()
            .enumerate()
            .find(|(_, v)| v.forward == Forward::Nat && v.address.is_ipv4() == want_v4)
        else {
            continue;
        };
        if !given.is_empty() {
            // check_families made sure the list covers this family.
            sources.extend(given.iter().filter(|a| a.is_ipv4() == want_v4));
            continue;
        }
        match on_interface
            .iter()
            .find(|a| a.is_ipv4() == want_v4 && usable(a))
        {
            Some(addr) => sources.push(*addr),
            None => {
                return Err(Problem::new(
                    KeyPath::root().key("vip").index(i).key("forward"),
                    format!(
                        "interface {interface} has no {} address for NAT VIP {:?} to use as \
                         its source; add one, or set daemon.nat_source",
                        family(vip.address),
                        vip.name
                    ),
                ));
            }
        }
    }
    let Some(first_nat) = config.vips.iter().position(|v| v.forward == Forward::Nat) else {
        return Ok(NatHost::default());
    };
    let Some((port_min, port_max)) = port_range(ephemeral) else {
        return Err(Problem::new(
            KeyPath::root().key("vip").index(first_nat).key("forward"),
            format!(
                "the kernel's ephemeral ports ({}-{}, net.ipv4.ip_local_port_range) leave fewer \
                 than {MIN_NAT_PORTS} ports above 1024 for NAT's source ports; narrow that range",
                ephemeral.0, ephemeral.1
            ),
        ));
    };
    // Replies are looked for only in packets no VIP claims: a VIP on a
    // source address at a port of the range would take them.
    for (i, vip) in config.vips.iter().enumerate() {
        if sources.contains(&vip.address) && (port_min..=port_max).contains(&vip.port) {
            return Err(Problem::new(
                KeyPath::root().key("vip").index(i).key("port"),
                format!(
                    "VIP {:?} listens on NAT source {} at port {}, inside NAT's source ports \
                     {port_min}-{port_max}: backends' replies to that port would reach the VIP; \
                     use another address or port",
                    vip.name, vip.address, vip.port
                ),
            ));
        }
    }
    Ok(NatHost {
        sources,
        port_min,
        port_max,
    })
}

/// NAT and DNAT forward through the kernel's FIB, which refuses (and the
/// program then drops every translated packet) unless forwarding is on for
/// the interface. `forwarding(v4)`: the interface's setting for that family,
/// None if unknown (not checked).
pub(super) fn check_forwarding(
    config: &Config,
    forwarding: impl Fn(bool) -> Option<bool>,
) -> Checked<()> {
    let iface = &config.daemon.interface;
    for (i, vip) in config.vips.iter().enumerate() {
        let v4 = vip.address.is_ipv4();
        if vip.forward.translates() && forwarding(v4) == Some(false) {
            let key = if v4 {
                format!("net.ipv4.conf.{iface}.forwarding")
            } else {
                format!("net.ipv6.conf.{iface}.forwarding")
            };
            return Err(Problem::new(
                KeyPath::root().key("vip").index(i).key("forward"),
                format!(
                    "{} VIP {:?} needs forwarding on {iface} (the kernel's FIB refuses to \
                     route translated packets otherwise): `sysctl -w {key}=1`, and in \
                     /etc/sysctl.d to keep it",
                    vip.forward.as_str().to_uppercase(),
                    vip.name
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
#[path = "tests_nat.rs"]
mod tests;
#[cfg(test)]
#[path = "tests_dnat.rs"]
mod tests_dnat;
