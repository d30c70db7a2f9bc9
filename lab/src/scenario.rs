//! The set-up that load scenarios share (the benchmarks' end-to-end and
//! drain parts): the client namespace tuned as a load generator, the release
//! `lb` binary, and a daemon started and stopped with no XDP program left
//! behind on the LB's interfaces.

use std::{
    path::{Path, PathBuf},
    process::Command,
    thread,
    time::Duration,
};

use anyhow::{Context as _, Result, bail, ensure};

use crate::{Daemon, Lab, LbConfig};

/// Checksums computed by the client itself (`ethtool -K lab-client tx off`).
/// With the offload on, the client's veth hands on TCP segments whose
/// checksum holds only the pseudo-header sum, marked CHECKSUM_PARTIAL in the
/// skb. Generic XDP keeps that mark through XDP_TX; native XDP on a veth
/// turns the skb into a bare frame and loses it, so the backend sees a bad
/// checksum and drops every forwarded segment. A real NIC fills checksums in
/// on the wire; the client paying for them in software stands in for that.
/// Set for every scenario alike.
pub fn client_checksums(lab: &Lab) -> Result<()> {
    lab.client_ns()
        .run(&["ethtool", "-K", &lab.client_host().iface, "tx", "off"])
        .map(drop)
        .context("turning the client's checksum offload off")
}

/// `net.ipv4.tcp_tw_reuse = 1` in the client namespace, as load generators
/// are set up. Clients that close first (Go's net/http with keep-alive off,
/// against Uvicorn) leave a TIME-WAIT socket per request for 60 s; a few
/// 9-second runs of fresh connections to one address fill the ~32k ports
/// connect() uses, and each connect() then scans for a free port (tens of
/// ms): whichever scenario runs after the others to the same address was
/// slowed (seen: 765 instead of ~10,000 requests). Reuse takes a TIME-WAIT
/// port at once (TCP timestamps keep it safe). Set for every scenario alike.
pub fn client_tw_reuse(lab: &Lab) -> Result<()> {
    lab.client_ns()
        .sysctl(&[("net.ipv4.tcp_tw_reuse", "1")])
        .context("net.ipv4.tcp_tw_reuse in the client namespace")
}

/// The release `lb` binary, built now if cargo is at hand (`cargo xtask
/// bench` runs the bench through `cargo run`, which sets CARGO): the bench
/// depends on lb-userspace's library only, so cargo does not build the binary
/// for it.
pub fn lb_binary() -> Result<PathBuf> {
    if let Some(cargo) = std::env::var_os("CARGO") {
        let status = Command::new(cargo)
            .current_dir(crate::paths::workspace_root())
            .args([
                "build",
                "--release",
                "--quiet",
                "--package",
                "lb-userspace",
                "--bin",
                "lb",
            ])
            .status()
            .context("running cargo build for the lb binary")?;
        ensure!(status.success(), "building the release lb binary failed");
    }
    let lb = crate::paths::lb_binary("release");
    ensure!(
        lb.is_file(),
        "{} missing: cargo build --release -p lb-userspace --bin lb",
        lb.display()
    );
    Ok(lb)
}

/// Starts the daemon and waits until every backend is active; returns it
/// with the XDP mode it reports.
pub fn start_daemon(lab: &Lab, lb: &Path, cfg: LbConfig) -> Result<(Daemon, String)> {
    let daemon = Daemon::start_with(lab, lb, cfg)?;
    let status = daemon.wait_ready(Duration::from_secs(30))?;
    daemon.wait_all_active(Duration::from_secs(30))?;
    let mode = status["xdp_mode"].as_str().unwrap_or("unknown").to_owned();
    Ok((daemon, mode))
}

/// Stops the daemon and removes its pins (detaching the program); waits
/// until the LB's interface has no XDP program left.
pub fn stop_daemon(lab: &Lab, mut daemon: Daemon) -> Result<()> {
    let _ = daemon.stop();
    drop(daemon);
    wait_no_xdp(lab, lab.lb_ns().name(), lab.lb_iface())
}

/// Waits (bounded) until `iface` in namespace `ns` has no XDP program.
pub fn wait_no_xdp(_lab: &Lab, ns: &str, iface: &str) -> Result<()> {
    for _ in 0..100 {
        let out = Command::new("ip")
            .args(["-n", ns, "-d", "link", "show", "dev", iface])
            .output()
            .context("ip link show")?;
        let text = String::from_utf8_lossy(&out.stdout);
        if !text.contains("xdp") && !text.contains("prog/xdp") {
            return Ok(());
        }
        thread::sleep(Duration::from_millis(20));
    }
    bail!("an XDP program is still attached to {iface} in {ns}")
}

/// `nginx -v`.
pub fn nginx_version() -> String {
    Command::new("nginx").arg("-v").output().map_or_else(
        |_| "unknown".into(),
        |o| {
            String::from_utf8_lossy(&o.stderr)
                .trim()
                .trim_start_matches("nginx version: ")
                .to_owned()
        },
    )
}
