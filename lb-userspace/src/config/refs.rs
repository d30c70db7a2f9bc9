//! `lb check`: what a valid config refers to on this host, checked without
//! touching anything (no maps, no pins, no sockets): the interface exists in
//! this network namespace, the metrics address is one this host has,
//! `pin_root` is on a bpffs, and pid files sit in directories only their
//! owner can write (a pid file that someone else can replace would make the
//! daemon, which has CAP_KILL, signal any process).

use std::{net::IpAddr, os::unix::fs::MetadataExt as _, path::Path};

use super::{
    error::{ConfigError, Problem},
    locate::KeyPath,
    model::{Action, Config, NatHost, PidSource},
};

/// What the checks ask of the host, so tests can answer for it.
pub trait Host {
    /// A network interface of that name exists in this network namespace.
    fn interface_exists(&self, name: &str) -> bool;
    /// The addresses assigned to this namespace's interfaces.
    fn local_addresses(&self) -> Vec<IpAddr>;
    /// The addresses of interface `name`, in the kernel's order.
    fn interface_addresses(&self, name: &str) -> Vec<IpAddr>;
    /// This network namespace's `net.ipv4.ip_local_port_range` (IPv6 uses it too).
    fn ephemeral_ports(&self) -> (u16, u16);
    /// Whether forwarding is on for interface `name` (IPv4 or IPv6); None if unknown.
    fn forwarding(&self, name: &str, v4: bool) -> Option<bool>;
    /// Whether `path`, or its nearest existing ancestor, is on a bpffs.
    fn on_bpffs(&self, path: &Path) -> bool;
}

/// The real host.
pub struct System;

impl Host for System {
    fn interface_exists(&self, name: &str) -> bool {
        nix::net::if_::if_nametoindex(name).is_ok()
    }

    fn local_addresses(&self) -> Vec<IpAddr> {
        addresses(None)
    }

    fn interface_addresses(&self, name: &str) -> Vec<IpAddr> {
        addresses(Some(name))
    }

    fn forwarding(&self, name: &str, v4: bool) -> Option<bool> {
        let family = if v4 { "ipv4" } else { "ipv6" };
        let path = format!("/proc/sys/net/{family}/conf/{name}/forwarding");
        let text = std::fs::read_to_string(path).ok()?;
        Some(text.trim() != "0")
    }

    fn ephemeral_ports(&self) -> (u16, u16) {
        let text = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range");
        let parsed = text.ok().and_then(|t| {
            let mut it = t.split_whitespace().map(|n| n.parse::<u16>().ok());
            Some((it.next()??, it.next()??))
        });
        parsed.unwrap_or(super::nat::DEFAULT_EPHEMERAL)
    }

    fn on_bpffs(&self, path: &Path) -> bool {
        let existing = path.ancestors().find(|p| p.exists());
        existing
            .and_then(|p| nix::sys::statfs::statfs(p).ok())
            .is_some_and(|fs| fs.filesystem_type().0 == libc::BPF_FS_MAGIC)
    }
}

/// The IP addresses of every interface, or of the one named.
fn addresses(interface: Option<&str>) -> Vec<IpAddr> {
    let Ok(addrs) = nix::ifaddrs::getifaddrs() else {
        return Vec::new();
    };
    addrs
        .filter(|a| interface.is_none_or(|name| a.interface_name == name))
        .filter_map(|a| {
            let a = a.address?;
            a.as_sockaddr_in()
                .map(|v4| IpAddr::V4(v4.ip()))
                .or_else(|| a.as_sockaddr_in6().map(|v6| IpAddr::V6(v6.ip())))
        })
        .collect()
}

/// Loads `path` as the daemon does (at start and on reload): the file, then
/// what depends on the host, the NAT sources on the interface.
pub fn load_on_host(path: &Path, host: &dyn Host) -> Result<Config, ConfigError> {
    let text = super::load_text(path)?;
    let mut config = super::parse(&text, path)?;
    config.nat = nat_host(&config, host).map_err(|p| ConfigError::from_problem(p, &text, path))?;
    Ok(config)
}

fn nat_host(config: &Config, host: &dyn Host) -> Result<NatHost, Problem> {
    let iface = &config.daemon.interface;
    let nat = super::nat::resolve(
        config,
        &host.interface_addresses(iface),
        host.ephemeral_ports(),
    )?;
    super::nat::check_forwarding(config, |v4| host.forwarding(iface, v4))?;
    Ok(nat)
}

/// What `lb check` found, for its one-line summary.
#[derive(Debug, PartialEq, Eq)]
pub struct Summary {
    pub interface: String,
    pub vips: usize,
    pub backends: usize,
}

/// Loads `path` as the daemon would and checks what it refers to.
pub fn check(path: &Path, host: &dyn Host) -> Result<(Config, Summary), ConfigError> {
    let text = super::load_text(path)?;
    let mut config = super::parse(&text, path)?;
    config.nat =
        references(&config, host).map_err(|p| ConfigError::from_problem(p, &text, path))?;
    let summary = Summary {
        interface: config.daemon.interface.clone(),
        vips: config.vips.len(),
        backends: config.backends().count(),
    };
    Ok((config, summary))
}

/// Checks what `config` refers to; returns the NAT sources resolved on the interface.
fn references(config: &Config, host: &dyn Host) -> Result<NatHost, Problem> {
    let daemon = &config.daemon;
    let at = KeyPath::root().key("daemon");
    if !host.interface_exists(&daemon.interface) {
        return Err(Problem::new(
            at.key("interface"),
            format!(
                "no network interface {:?} in this network namespace (`ip link` lists them)",
                daemon.interface
            ),
        ));
    }
    let nat = nat_host(config, host)?;
    if !host.on_bpffs(&daemon.pin_root) {
        return Err(Problem::new(
            at.key("pin_root"),
            format!(
                "{} is not on a bpffs, so nothing can be pinned there \
                 (mount one: mount -t bpf bpf /sys/fs/bpf)",
                daemon.pin_root.display()
            ),
        ));
    }
    if let Some(metrics) = daemon.metrics {
        let ip = metrics.ip();
        if metrics.port() == 0 {
            return Err(Problem::new(
                at.key("metrics"),
                format!("expected a fixed port for Prometheus to scrape, got {metrics}"),
            ));
        }
        if !ip.is_unspecified() && !host.local_addresses().contains(&ip) {
            return Err(Problem::new(
                at.key("metrics"),
                format!("{ip} is not an address of this host (`ip addr` lists them)"),
            ));
        }
    }
    for (i, vip) in config.vips.iter().enumerate() {
        for (j, b) in vip.backends.iter().enumerate() {
            let at = KeyPath::root().key("vip").index(i).key("backend").index(j);
            for (key, action) in [("shutdown", &b.shutdown), ("on_drain", &b.on_drain)] {
                if let Some(Action::Signal {
                    target: PidSource::PidFile(file),
                    ..
                }) = action
                {
                    pid_file(file).map_err(|why| {
                        Problem::new(
                            at.key(key).key("pid_file"),
                            format!("{}: {why}", file.display()),
                        )
                    })?;
                }
            }
        }
    }
    Ok(nat)
}

/// A pid file may be missing (its process is not running yet) but its
/// directory must exist and be writable only by its owner (or be sticky);
/// an existing pid file must be a regular file, not a symlink.
fn pid_file(file: &Path) -> Result<(), String> {
    let dir = file.parent().unwrap_or(Path::new("/"));
    let meta = std::fs::metadata(dir)
        .map_err(|e| format!("its directory {} cannot be read: {e}", dir.display()))?;
    if !meta.is_dir() {
        return Err(format!("{} is not a directory", dir.display()));
    }
    let mode = meta.mode() & 0o7777;
    if mode & 0o022 != 0 && mode & 0o1000 == 0 {
        return Err(format!(
            "its directory {} is writable by others (mode {mode:04o}): they could \
             point the daemon's signal at any process",
            dir.display()
        ));
    }
    match std::fs::symlink_metadata(file) {
        Ok(m) if m.file_type().is_symlink() => Err("is a symlink; write the real path".into()),
        Ok(m) if !m.is_file() => Err("is not a regular file".into()),
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(format!("cannot be inspected: {e}")),
    }
}

#[cfg(test)]
#[path = "tests_refs.rs"]
mod tests;
