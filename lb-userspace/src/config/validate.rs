//! From what serde read to a [`Config`] the daemon can trust: defaults filled
//! in, and everything the kernel or an operator would trip over refused first,
//! with the key path of the offending key.
//!
//! Checks stop at the first problem, in file order as far as possible, so the
//! message always points at one place to fix.

use std::{collections::HashMap, net::IpAddr, path::PathBuf};

use lb_common::{
    maglev::DEFAULT_MAGLEV_SIZE,
    maps::{DEFAULT_MAX_BACKENDS, DEFAULT_MAX_DRAIN_FLOWS, DEFAULT_MAX_FLOWS, DEFAULT_MAX_VIPS},
};

use super::{
    backend::backend,
    check::{Checked, at_least_one, check_address, check_name, nonzero},
    cluster::cluster,
    error::Problem,
    locate::KeyPath,
    model::{
        Config, DEFAULT_FLOW_IDLE_TIMEOUT, DEFAULT_HEALTH_CONCURRENCY, DEFAULT_PIN_ROOT,
        DEFAULT_SOCKET, DEFAULT_STATE_DIR, DEFAULT_UDP_IDLE_TIMEOUT, DaemonConfig, NatHost,
        Protocol, VipConfig,
    },
    nat,
    raw::{RawConfig, RawDaemon},
};
use crate::maglev::is_prime;

pub(super) fn validate(raw: RawConfig) -> Checked<Config> {
    let root = KeyPath::root();
    let daemon = daemon(raw.daemon, &root.key("daemon"))?;
    let vip_key = root.key("vip");
    if raw.vip.len() > daemon.max_vips as usize {
        return Err(Problem::new(
            vip_key.index(daemon.max_vips as usize),
            format!(
                "{} VIPs are configured, more than daemon.max_vips = {}",
                raw.vip.len(),
                daemon.max_vips
            ),
        ));
    }

    let mut vip_names: HashMap<String, KeyPath> = HashMap::new();
    let mut vip_keys: HashMap<(IpAddr, u16, Protocol), KeyPath> = HashMap::new();
    let mut backend_names: HashMap<String, KeyPath> = HashMap::new();
    let mut backend_count = 0usize;
    let mut vips = Vec::with_capacity(raw.vip.len());
    for (i, v) in raw.vip.into_iter().enumerate() {
        let at = vip_key.index(i);
        check_name(&v.name, &at.key("name"))?;
        if let Some(first) = vip_names.insert(v.name.clone(), at.clone()) {
            return Err(Problem::new(
                at.key("name"),
                format!("duplicate VIP name {:?} (first used by {first})", v.name),
            ));
        }
        check_address(v.address, &at.key("address"))?;
        if v.port == 0 {
            return Err(Problem::new(
                at.key("port"),
                "expected a port in 1..=65535, got 0",
            ));
        }
        if let Some(first) = vip_keys.insert((v.address, v.port, v.protocol), at.clone()) {
            return Err(Problem::new(
                at.key("address"),
                format!(
                    "VIP {} is already defined by {first}",
                    endpoint(v.address, v.port, v.protocol)
                ),
            ));
        }
        let mut vip = VipConfig {
            name: v.name,
            address: v.address,
            port: v.port,
            protocol: v.protocol,
            forward: v.forward,
            backends: Vec::with_capacity(v.backend.len()),
        };
        for (j, b) in v.backend.into_iter().enumerate() {
            let at = at.key("backend").index(j);
            backend_count += 1;
            if backend_count > daemon.max_backends as usize {
                return Err(Problem::new(
                    at,
                    format!(
                        "more backends than daemon.max_backends = {} (counted across all VIPs)",
                        daemon.max_backends
                    ),
                ));
            }
            let b = backend(b, &vip, &at)?;
            if let Some(first) = backend_names.insert(b.name.clone(), at.clone()) {
                return Err(Problem::new(
                    at.key("name"),
                    format!(
                        "duplicate backend name {:?} (first used by {first}; \
                         backend names are global because commands address a backend by name alone)",
                        b.name
                    ),
                ));
            }
            vip.backends.push(b);
        }
        // Maglev gives each backend at least one slot only if there are enough.
        if vip.backends.len() >= daemon.maglev_size as usize {
            return Err(Problem::new(
                root.key("daemon").key("maglev_size"),
                format!(
                    "expected more slots than VIP {:?} has backends ({}), got {}",
                    vip.name,
                    vip.backends.len(),
                    daemon.maglev_size
                ),
            ));
        }
        vips.push(vip);
    }
    let cluster = raw
        .cluster
        .map(|c| cluster(c, &root.key("cluster")))
        .transpose()?;
    let config = Config {
        daemon,
        vips,
        cluster,
        nat: NatHost::default(),
    };
    nat::check_families(&config)?;
    Ok(config)
}

fn daemon(raw: RawDaemon, at: &KeyPath) -> Checked<DaemonConfig> {
    check_interface(&raw.interface, &at.key("interface"))?;
    let path = |v: Option<PathBuf>, key: &str, default: &str| -> Checked<PathBuf> {
        match v {
            Some(p) if p.as_os_str().is_empty() => Err(Problem::new(
                at.key(key),
                "expected a path, got an empty string",
            )),
            Some(p) => Ok(p),
            None => Ok(PathBuf::from(default)),
        }
    };
    let max_vips = at_least_one(raw.max_vips, DEFAULT_MAX_VIPS, &at.key("max_vips"))?;
    let max_backends = at_least_one(
        raw.max_backends,
        DEFAULT_MAX_BACKENDS,
        &at.key("max_backends"),
    )?;
    if max_backends == lb_common::maglev::NO_BACKEND {
        // Ids run 0..max_backends and u32::MAX marks an empty Maglev slot.
        return Err(Problem::new(
            at.key("max_backends"),
            "expected less than 4294967295, got 4294967295",
        ));
    }
    let maglev_size = raw.maglev_size.unwrap_or(DEFAULT_MAGLEV_SIZE);
    if !is_prime(maglev_size) {
        let hint = (maglev_size.saturating_add(1)..=u32::MAX)
            .find(|&n| is_prime(n))
            .map(|n| format!(" (the next prime is {n})"))
            .unwrap_or_default();
        return Err(Problem::new(
            at.key("maglev_size"),
            format!("expected a prime number, got {maglev_size}{hint}"),
        ));
    }
    // MAGLEV is one BPF array of max_vips * 2 halves * M slots, indexed by u32.
    if u64::from(max_vips) * 2 * u64::from(maglev_size) > u64::from(u32::MAX) {
        return Err(Problem::new(
            at.key("maglev_size"),
            format!(
                "expected max_vips * 2 * maglev_size to fit a u32 map index, \
                 got {max_vips} * 2 * {maglev_size}"
            ),
        ));
    }
    let health_concurrency = raw.health_concurrency.unwrap_or(DEFAULT_HEALTH_CONCURRENCY);
    if health_concurrency == 0 {
        return Err(Problem::new(
            at.key("health_concurrency"),
            "expected at least 1, got 0",
        ));
    }
    let has_read_only_socket = raw.read_only_socket.is_some();
    Ok(DaemonConfig {
        interface: raw.interface.clone(),
        xdp_mode: raw.xdp_mode,
        socket: path(raw.socket, "socket", DEFAULT_SOCKET)?,
        pin_root: path(raw.pin_root, "pin_root", DEFAULT_PIN_ROOT)?,
        metrics: raw.metrics,
        flow_idle_timeout: nonzero(
            raw.flow_idle_timeout.map(|d| d.0),
            DEFAULT_FLOW_IDLE_TIMEOUT,
            &at.key("flow_idle_timeout"),
        )?,
        udp_idle_timeout: nonzero(
            raw.udp_idle_timeout.map(|d| d.0),
            DEFAULT_UDP_IDLE_TIMEOUT,
            &at.key("udp_idle_timeout"),
        )?,
        max_flows: at_least_one(raw.max_flows, DEFAULT_MAX_FLOWS, &at.key("max_flows"))?,
        max_drain_flows: at_least_one(
            raw.max_drain_flows,
            DEFAULT_MAX_DRAIN_FLOWS,
            &at.key("max_drain_flows"),
        )?,
        max_vips,
        max_backends,
        maglev_size,
        state_file: match raw.state_file {
            None => default_state_file(&raw.interface),
            given => path(given, "state_file", "")?,
        },
        health_concurrency,
        read_only_socket: match raw.read_only_socket {
            None => None,
            given => Some(path(given, "read_only_socket", "")?),
        },
        nat_source: nat::sources(raw.nat_source, &at.key("nat_source"))?,
        read_only_socket_group: match raw.read_only_socket_group {
            Some(_) if !has_read_only_socket => {
                return Err(Problem::new(
                    at.key("read_only_socket_group"),
                    "applies only with `read_only_socket`",
                ));
            }
            Some(g) if !valid_group(&g) => {
                return Err(Problem::new(
                    at.key("read_only_socket_group"),
                    format!("expected a group name, got {g:?}"),
                ));
            }
            g => g,
        },
    })
}

/// `/var/lib/lb/<interface>/state.json`.
pub(super) fn default_state_file(interface: &str) -> PathBuf {
    PathBuf::from(DEFAULT_STATE_DIR)
        .join(interface)
        .join("state.json")
}

/// A POSIX-ish group name (letters, digits, `_`, `-`, `.`; not empty).
fn valid_group(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 32
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// The rules of the kernel's `dev_valid_name`.
fn check_interface(name: &str, at: &KeyPath) -> Checked<()> {
    let bad = name.is_empty()
        || name.len() > 15
        || name == "."
        || name == ".."
        || name
            .chars()
            .any(|c| c == '/' || c == ':' || c.is_whitespace());
    if bad {
        return Err(Problem::new(
            at.clone(),
            format!(
                "expected a network interface name (1 to 15 characters, no '/', ':' or spaces), got {name:?}"
            ),
        ));
    }
    Ok(())
}

/// `addr:port/proto`, IPv6 in brackets.
fn endpoint(addr: IpAddr, port: u16, proto: Protocol) -> String {
    match addr {
        IpAddr::V4(a) => format!("{a}:{port}/{proto}"),
        IpAddr::V6(a) => format!("[{a}]:{port}/{proto}"),
    }
}
