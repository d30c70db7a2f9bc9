//! Debian packages. The Rust ones come from bookworm-security (see
//! docs/toolchain.md); the rest are tools the lab, tests and benchmarks use.
use std::{
    collections::HashSet,
    fs,
    io::Write as _,
    os::unix::fs::OpenOptionsExt as _,
    path::Path,
    process::Command,
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result, bail};

use super::Ctx;
use crate::cmd::CmdExt as _;

/// What building needs: Debian's rustc 1.96 on LLVM 22 with std sources
/// (`-Z build-std=core`), its cargo (aya-build runs `rustup run deb-rust cargo`),
/// LLVM 22 headers/libs for bpf-linker, clippy for the BPF target, a
/// prebuilt `core` for bpfel (faster eBPF builds), and `protoc` with the
/// well-known protos (`google/protobuf/*.proto`, only a Recommends of
/// protobuf-compiler), which the `etcd-client` crate's build script needs to
/// compile etcd's gRPC protos.
pub const TOOLCHAIN: &[&str] = &[
    "protobuf-compiler",
    "libprotobuf-dev",
    "rustc-web",
    "rust-web-src",
    "cargo-web",
    "llvm-22-dev",
    "rust-web-clippy",
    "libstd-rust-web-dev-bpf",
];

/// What the lab, tests and benchmarks add: namespaces and veths, NIC
/// settings, BPF inspection, HTTP load, ping, the backends' venv, the Nginx
/// baseline for benchmarks, HTTP checks, and the fleet lab's etcd (server and
/// `etcdctl`) and BIRD 2 (router and LB nodes' BGP). wrk and hey are the two
/// load tools: wrk for keep-alive load, hey for fresh connections and POST
/// bodies. systemd-nspawn boots a real systemd as PID 1 of a throw-away
/// container for the test of the packaged unit (tests/tests/systemd.rs).
/// nftables: `nft`, which the daemon runs to install NAT's guard table
/// (docs/forwarding.md), and the fault tests read its counters with.
pub const LAB: &[&str] = &[
    "iproute2",
    "ethtool",
    "bpftool",
    "wrk",
    "hey",
    "iputils-ping",
    "python3-venv",
    "nginx-light",
    "libnginx-mod-stream",
    "fonts-dejavu-core",
    "curl",
    "etcd-server",
    "etcd-client",
    "bird2",
    "systemd-container",
    "nftables",
];

/// Packages whose system service must never run on the host: the lab starts
/// its own etcd and BIRD inside namespaces (docs/fleet.md), and a host-wide
/// one would listen on the host's interfaces. Unit names as Debian ships them.
const NO_SERVICE: &[(&str, &str)] = &[
    ("nginx-light", "nginx"),
    ("etcd-server", "etcd"),
    ("bird2", "bird"),
];

/// Installs the missing `packages`. Returns the ones still missing (only
/// when not root: then they are recorded in `ctx`).
pub fn ensure<'a>(ctx: &mut Ctx, packages: &[&'a str]) -> Result<Vec<&'a str>> {
    let missing = missing(packages)?;
    if missing.is_empty() {
        println!("ok: {} Debian packages present", packages.len());
        return Ok(missing);
    }
    let mut install = Command::new("apt-get");
    install
        .env("DEBIAN_FRONTEND", "noninteractive")
        .args(["install", "-y", "--no-install-recommends"])
        .args(&missing);
    if !ctx.root {
        let what = format!("Debian packages {}", missing.join(" "));
        let command = format!("apt-get update && {}", install.display());
        ctx.need_root(&what, &command);
        return Ok(missing);
    }
    println!("installing: {}", missing.join(" "));
    let before = service_pids();
    {
        let _guard = NoServiceStarts::new()?;
        Command::new("apt-get")
            .env("DEBIAN_FRONTEND", "noninteractive")
            .arg("update")
            .run()?;
        install.run()?;
    }
    for &(package, unit) in NO_SERVICE {
        if missing.contains(&package) {
            quiesce(unit, &before)?;
        }
    }
    let still = self::missing(packages)?;
    if !still.is_empty() {
        bail!(
            "apt-get succeeded but these are still not installed: {}",
            still.join(" ")
        );
    }
    println!("ok: installed {}", missing.join(" "));
    Ok(still)
}

/// The packages of `packages` that are not fully installed. One dpkg-query
/// call for all: it prints the known ones (and complains on stderr about
/// the never-installed ones, which then simply do not appear).
fn missing<'a>(packages: &[&'a str]) -> Result<Vec<&'a str>> {
    let out = Command::new("dpkg-query")
        .args(["-W", "-f=${Package} ${Status}\\n"])
        .args(packages)
        .stderr(std::process::Stdio::null())
        .output()
        .context("cannot run dpkg-query (is this Debian?)")?;
    let text = String::from_utf8_lossy(&out.stdout);
    let installed: HashSet<&str> = text
        .lines()
        .filter_map(|l| l.split_once(' '))
        .filter(|(_, status)| *status == "install ok installed")
        .map(|(name, _)| name)
        .collect();
    Ok(packages
        .iter()
        .copied()
        .filter(|p| !installed.contains(p))
        .collect())
}

/// Debian's policy-rc.d hook: while it exits 101, package scripts may not
/// start services. Installing nginx-light would otherwise start an nginx on
/// port 80 of the host, etcd-server an etcd on 2379, bird2 a BIRD. Removed on drop only if we created it (Docker images
/// often ship one of their own).
struct NoServiceStarts {
    created: bool,
}

const POLICY_RC_D: &str = "/usr/sbin/policy-rc.d";

impl NoServiceStarts {
    fn new() -> Result<Self> {
        if Path::new(POLICY_RC_D).exists() {
            return Ok(Self { created: false });
        }
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o755)
            .open(POLICY_RC_D)
            .with_context(|| format!("creating {POLICY_RC_D}"))?;
        file.write_all(b"#!/bin/sh\n# written by cargo xtask setup for the duration of apt-get install\nexit 101\n")
            .with_context(|| format!("writing {POLICY_RC_D}"))?;
        Ok(Self { created: true })
    }
}

impl Drop for NoServiceStarts {
    fn drop(&mut self) {
        if self.created
            && let Err(e) = fs::remove_file(POLICY_RC_D)
        {
            eprintln!("warning: could not remove {POLICY_RC_D}: {e}");
        }
    }
}

/// A freshly installed service (nginx, etcd, bird) must neither run now nor
/// start at boot: the lab runs its own inside namespaces. policy-rc.d kept it
/// from starting, but the package still enables its unit for the next boot,
/// and a system without policy-rc.d support may have started it anyway.
fn quiesce(unit: &str, before: &HashSet<u32>) -> Result<()> {
    let systemd_running = Path::new("/run/systemd/system").exists();
    // `systemctl disable` also works without a running systemd (it edits links).
    let mut disable = Command::new("systemctl");
    disable.arg("disable");
    if systemd_running {
        disable.arg("--now");
    }
    disable.arg(unit);
    if disable.probe().is_some() {
        println!("ok: {unit} service disabled");
    }
    // Stop only processes of that unit that appeared during the install.
    let started: Vec<u32> = service_pids()
        .difference(before)
        .copied()
        .filter(|&pid| comm(pid).as_deref() == Some(unit))
        .collect();
    if started.is_empty() {
        return Ok(());
    }
    println!("stopping: {unit} started by its package (pids {started:?})");
    if unit == "nginx" {
        let _ = Command::new("nginx").args(["-s", "stop"]).probe();
    }
    if !wait_gone(&started, Duration::from_secs(5)) {
        for &pid in started.iter().filter(|&&p| running(p)) {
            if let Ok(pid) = i32::try_from(pid) {
                // SAFETY: kill(2) has no memory-safety preconditions.
                unsafe { libc::kill(pid, libc::SIGTERM) };
            }
        }
        if !wait_gone(&started, Duration::from_secs(2)) {
            bail!(
                "{unit} (started by its package) is still running; stop it: systemctl stop {unit}"
            );
        }
    }
    Ok(())
}

/// Waits up to `limit` for all `pids` to exit.
fn wait_gone(pids: &[u32], limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if !pids.iter().any(|&p| running(p)) {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(100));
    }
}

/// Exists and is not a zombie (an exited child its parent has not reaped yet).
fn running(pid: u32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        // The state follows the parenthesised command name, which may hold spaces.
        stat.rsplit_once(") ")
            .is_some_and(|(_, rest)| !rest.starts_with('Z'))
    })
}

/// Pids of processes named like one of the [`NO_SERVICE`] units, read from
/// /proc (pgrep is not on minimal Debian images).
fn service_pids() -> HashSet<u32> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return HashSet::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| comm(pid).is_some_and(|c| NO_SERVICE.iter().any(|(_, u)| *u == c)))
        .collect()
}

/// A process's command name.
fn comm(pid: u32) -> Option<String> {
    fs::read_to_string(format!("/proc/{pid}/comm"))
        .ok()
        .map(|c| c.trim().to_owned())
}

#[cfg(test)]
mod tests {
    #[test]
    fn running_sees_this_process_and_not_a_free_pid() {
        assert!(super::running(std::process::id()));
        assert!(!super::running(u32::MAX));
    }
}
