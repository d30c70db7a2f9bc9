//! Backend MACs from the kernel's neighbour table (ARP / IPv6 ND), for backends
//! whose config gives none. An unresolved backend is kept out of the tables and
//! reported, never sent frames with a zero MAC.

use std::{net::IpAddr, process::Command};

use serde::Deserialize;

#[derive(Deserialize)]
struct Neighbour {
    lladdr: Option<String>,
    #[serde(default)]
    state: Vec<String>,
}

/// The MAC the neighbour table holds for `addr` on `interface`, if usable.
pub fn lookup(interface: &str, addr: IpAddr) -> Option<[u8; 6]> {
    let out = Command::new("ip")
        .args([
            "-j",
            "neigh",
            "show",
            "to",
            &addr.to_string(),
            "dev",
            interface,
        ])
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let entries: Vec<Neighbour> = serde_json::from_slice(&out.stdout).ok()?;
    entries
        .into_iter()
        .filter(|n| !n.state.iter().any(|s| s == "FAILED" || s == "INCOMPLETE"))
        .find_map(|n| {
            n.lladdr
                .as_deref()
                .and_then(|s| crate::config::mac::parse_mac(s).ok())
        })
}

/// Makes the kernel resolve `addr`: one UDP datagram to the discard port, which
/// needs the neighbour entry before it can leave. Goes only to a configured
/// backend address.
pub fn trigger(addr: IpAddr) {
    let bind: IpAddr = match addr {
        IpAddr::V4(_) => std::net::Ipv4Addr::UNSPECIFIED.into(),
        IpAddr::V6(_) => std::net::Ipv6Addr::UNSPECIFIED.into(),
    };
    if let Ok(socket) = std::net::UdpSocket::bind((bind, 0)) {
        let _ = socket.send_to(b"lb neighbour probe", (addr, 9));
    }
}

/// Looks up each `(name, address)`; returns the MACs found and asks the
/// kernel to resolve the others (for the next try).
pub fn resolve(interface: &str, unresolved: &[(String, IpAddr)]) -> Vec<(String, [u8; 6])> {
    let mut found = Vec::new();
    for (name, addr) in unresolved {
        match lookup(interface, *addr) {
            Some(mac) => found.push((name.clone(), mac)),
            None => trigger(*addr),
        }
    }
    found
}
