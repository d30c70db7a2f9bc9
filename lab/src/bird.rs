//! BIRD 2 in lab namespaces: the fleet's router and each LB node's BGP
//! speaker. Runs in the foreground (`-f`) as one of the lab's processes, with
//! its config, control socket and log in the lab dir.

use std::{
    fmt::Write as _,
    path::{Path, PathBuf},
    sync::Arc,
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result, bail};

use crate::{
    backend::tail,
    netns::{self, Netns},
    proc::{Proc, Registry},
};

/// A running BIRD; killed on drop.
pub struct Bird {
    name: String,
    ns: Arc<Netns>,
    config: PathBuf,
    socket: PathBuf,
    log: PathBuf,
    proc: Option<Proc>,
}

impl Bird {
    /// Writes `config` to `<dir>/<name>-bird.conf` and starts BIRD on it in
    /// `ns`, its control socket at `<dir>/<name>-bird.ctl`. Waits until the
    /// socket answers.
    pub fn start(
        name: &str,
        ns: Arc<Netns>,
        dir: &Path,
        config: &str,
        registry: &Registry,
    ) -> Result<Bird> {
        let conf = dir.join(format!("{name}-bird.conf"));
        std::fs::write(&conf, config).with_context(|| format!("writing {}", conf.display()))?;
        let socket = dir.join(format!("{name}-bird.ctl"));
        let log = dir.join(format!("{name}-bird.log"));
        let (c, s) = (conf.display().to_string(), socket.display().to_string());
        let cmd = ns.exec(&["bird", "-f", "-c", &c, "-s", &s]);
        let proc = Proc::spawn(&format!("bird {name}"), cmd, Some(&log), registry)?;
        let bird = Bird {
            name: name.to_owned(),
            ns,
            config: conf,
            socket,
            log,
            proc: Some(proc),
        };
        bird.wait_socket(Duration::from_secs(10))?;
        Ok(bird)
    }

    fn wait_socket(&self, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.proc.as_ref().and_then(Proc::exit_status) {
                bail!(
                    "bird {} exited ({status}): {}",
                    self.name,
                    tail(&self.log, 20)
                );
            }
            if self.birdc(&["show", "status"]).is_ok() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                bail!("bird {}: no control socket after {timeout:?}", self.name);
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// `birdc -s SOCKET ARGS...` (birdc talks over the socket: no namespace).
    pub fn birdc(&self, args: &[&str]) -> Result<String> {
        let mut cmd = std::process::Command::new("birdc");
        cmd.arg("-s").arg(&self.socket).args(args);
        netns::run(&mut cmd)
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }

    pub fn config_path(&self) -> &Path {
        &self.config
    }

    pub fn ns(&self) -> &Netns {
        &self.ns
    }

    /// SIGKILL: the BGP speaker dies; its peer drops the routes after the
    /// hold time.
    pub fn kill(&mut self) {
        if let Some(p) = self.proc.take() {
            p.kill();
        }
    }

    pub fn log_tail(&self, lines: usize) -> String {
        tail(&self.log, lines)
    }
}

impl Drop for Bird {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Documentation AS numbers (RFC 5398): the router's and the LB nodes'.
pub const ROUTER_AS: u32 = 64496;
pub const NODES_AS: u32 = 64497;

/// Timers short enough for tests: a dead peer is noticed within 3 s.
const TIMERS: &str = "hold time 3; keepalive time 1; connect retry time 1;";

/// The router: one eBGP session per LB node, every route they announce
/// merged into one ECMP route in the kernel (`merge paths`).
pub fn router_config(router_id: &str, nodes: &[String]) -> String {
    let mut c = format!(
        "router id {router_id};\n\
         protocol device {{ scan time 2; }}\n\
         protocol kernel {{\n    ipv4 {{ import none; export all; }};\n    merge paths on;\n}}\n"
    );
    for (i, node) in nodes.iter().enumerate() {
        let _ = write!(
            c,
            "protocol bgp lb{n} {{\n    local {router_id} as {ROUTER_AS};\n    \
             neighbor {node} as {NODES_AS};\n    {TIMERS}\n    \
             ipv4 {{ import all; export none; }};\n}}\n",
            n = i + 1
        );
    }
    c
}

/// An LB node: one eBGP session to the router, exporting only the routes of
/// lb's own static protocols, which lb writes into `include`.
pub fn node_config(node_addr: &str, router: &str, include: &Path, protocol: &str) -> String {
    format!(
        "router id {node_addr};\n\
         protocol device {{ scan time 2; }}\n\
         include \"{}\";\n\
         protocol bgp uplink {{\n    local {node_addr} as {NODES_AS};\n    \
         neighbor {router} as {ROUTER_AS};\n    {TIMERS}\n    \
         ipv4 {{ import none; export where proto = \"{protocol}4\"; }};\n}}\n",
        include.display()
    )
}
