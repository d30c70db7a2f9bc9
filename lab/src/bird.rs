//! BIRD 2 in lab namespaces: the fleet's router and each LB node's BGP
//! speaker. Runs in the foreground (`-f`) as one of the lab's processes, with
//! its config, control socket and log in the lab dir.

use std::{
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
    path::{Path, PathBuf},
    sync::Arc,
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result, bail};

use crate::{
    netns::{self, Netns},
    proc::{Proc, Registry, tail},
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

/// One BGP speaker's addresses on the segment: a session per family it has.
#[derive(Clone, Debug)]
pub struct Speaker {
    pub ipv4: Ipv4Addr,
    pub ipv6: Option<Ipv6Addr>,
}

/// The router: one eBGP session per LB node and family (`lbN` over IPv4,
/// `lbN_6` over IPv6), every route they announce merged into one ECMP route
/// in the kernel (`merge paths`).
pub fn router_config(router: &Speaker, nodes: &[Speaker]) -> String {
    let id = router.ipv4;
    let mut c = format!(
        "router id {id};\n\
         protocol device {{ scan time 2; }}\n\
         protocol kernel {{\n    ipv4 {{ import none; export all; }};\n    merge paths on;\n}}\n"
    );
    if router.ipv6.is_some() {
        c.push_str(
            "protocol kernel {\n    ipv6 { import none; export all; };\n    merge paths on;\n}\n",
        );
    }
    for (i, node) in nodes.iter().enumerate() {
        let n = i + 1;
        c.push_str(&session(
            &format!("lb{n}"),
            id.into(),
            node.ipv4.into(),
            ROUTER_AS,
            NODES_AS,
            "ipv4 { import all; export none; }",
        ));
        if let (Some(local), Some(peer)) = (router.ipv6, node.ipv6) {
            c.push_str(&session(
                &format!("lb{n}_6"),
                local.into(),
                peer.into(),
                ROUTER_AS,
                NODES_AS,
                "ipv6 { import all; export none; }",
            ));
        }
    }
    c
}

/// An LB node: one eBGP session per family to the router, exporting only
/// the routes of lb's own static protocols (`<protocol>4`, `<protocol>6`),
/// which lb writes into `include`.
pub fn node_config(node: &Speaker, router: &Speaker, include: &Path, protocol: &str) -> String {
    let mut c = format!(
        "router id {};\nprotocol device {{ scan time 2; }}\ninclude \"{}\";\n",
        node.ipv4,
        include.display()
    );
    let channel4 = format!("ipv4 {{ import none; export where proto = \"{protocol}4\"; }}");
    c.push_str(&session(
        "uplink",
        node.ipv4.into(),
        router.ipv4.into(),
        NODES_AS,
        ROUTER_AS,
        &channel4,
    ));
    if let (Some(local), Some(peer)) = (node.ipv6, router.ipv6) {
        let channel6 = format!("ipv6 {{ import none; export where proto = \"{protocol}6\"; }}");
        c.push_str(&session(
            "uplink6",
            local.into(),
            peer.into(),
            NODES_AS,
            ROUTER_AS,
            &channel6,
        ));
    }
    c
}

fn session(
    name: &str,
    local: IpAddr,
    peer: IpAddr,
    local_as: u32,
    peer_as: u32,
    channel: &str,
) -> String {
    format!(
        "protocol bgp {name} {{\n    local {local} as {local_as};\n    \
         neighbor {peer} as {peer_as};\n    {TIMERS}\n    {channel};\n}}\n"
    )
}
