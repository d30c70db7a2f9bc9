//! [`Lab`]: the test lab as it stands once built (`up.rs` builds it): its
//! namespaces, one L2 segment wired by `wiring.rs`, and its backends;
//! accessors for everything tests address; requests from the client
//! namespace; teardown.
//!
//! ```text
//! client ──┐
//! lb ──────┤ bridge (switch ns, plain L2: br_netfilter off, no IP)
//! web-1..N ┘
//! ```

use std::{
    net::{Ipv4Addr, Ipv6Addr},
    path::{Path, PathBuf},
    process::Command,
    sync::Arc,
};

use anyhow::{Result, bail};

use crate::{
    addr,
    backend::Backend,
    client::{self, InFlight, Request, Response},
    guard::{self, Cleanup},
    host::Host,
    netns::Netns,
    proc::{Proc, Registry},
};

/// What to build.
#[derive(Clone, Debug)]
pub struct LabSpec {
    /// Short name (lowercase letters, digits, `-`; at most 12 chars) starting
    /// every namespace name, e.g. "lb" gives `lb-<pid>-sw`.
    pub prefix: String,
    /// Number of backends, 1..=8: web-1..web-N.
    pub backends: usize,
    /// Also give everyone IPv6 addresses and the backends VIP6.
    pub ipv6: bool,
}

impl Default for LabSpec {
    fn default() -> Self {
        LabSpec {
            prefix: "lab".into(),
            backends: 3,
            ipv6: false,
        }
    }
}

/// A running lab; torn down on drop (processes killed, namespaces deleted,
/// pins and lab dir removed), or with [`Lab::down`] to see errors.
pub struct Lab {
    pub(crate) spec: LabSpec,
    pub(crate) tag: String,
    pub(crate) dir: PathBuf,
    pub(crate) cleanup: Arc<Cleanup>,
    pub(crate) switch: Arc<Netns>,
    pub(crate) client: Arc<Netns>,
    pub(crate) lb: Arc<Netns>,
    pub(crate) client_host: Host,
    pub(crate) lb_host: Host,
    /// The fleet's router (`router.rs`): in front of the segment, with the
    /// client behind it. None in the one-LB lab (client on the segment).
    pub(crate) router: Option<Arc<Netns>>,
    pub(crate) backends: Vec<Backend>,
    /// How many of the backends, the last ones, are NAT backends.
    pub(crate) nat_backends: usize,
    /// [`Lab::up_dnat`]: the backends on a subnet of their own, routed by the LB.
    pub(crate) dnat: bool,
}

impl Lab {
    pub fn spec(&self) -> &LabSpec {
        &self.spec
    }

    /// `<prefix>-<pid>` (or `<prefix>-<pid>.<n>`): starts every namespace name.
    pub fn tag(&self) -> &str {
        &self.tag
    }

    /// The lab's directory: logs, pid files, configs, the daemon's socket.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Every namespace of the lab, switch first.
    pub fn namespaces(&self) -> Vec<String> {
        let mut v = vec![
            self.switch.name().to_owned(),
            self.client.name().to_owned(),
            self.lb.name().to_owned(),
        ];
        v.extend(self.router.iter().map(|r| r.name().to_owned()));
        v.extend(self.backends.iter().map(|b| b.ns().name().to_owned()));
        v
    }

    pub fn switch_ns(&self) -> &Netns {
        &self.switch
    }

    pub fn client_ns(&self) -> &Netns {
        &self.client
    }

    pub fn lb_ns(&self) -> &Netns {
        &self.lb
    }

    pub(crate) fn lb_ns_arc(&self) -> Arc<Netns> {
        Arc::clone(&self.lb)
    }

    pub fn client_host(&self) -> &Host {
        &self.client_host
    }

    pub fn lb_host(&self) -> &Host {
        &self.lb_host
    }

    /// The LB's veth inside the LB namespace (the daemon's `interface`).
    pub fn lb_iface(&self) -> &str {
        &self.lb_host.iface
    }

    pub fn lb_mac(&self) -> &str {
        &self.lb_host.mac
    }

    pub fn vip(&self) -> Ipv4Addr {
        addr::vip()
    }

    /// VIP6, when the lab has IPv6.
    pub fn vip6(&self) -> Option<Ipv6Addr> {
        self.spec.ipv6.then(addr::vip6)
    }

    /// How many backends are NAT backends (the last ones).
    pub fn nat_backends(&self) -> usize {
        self.nat_backends
    }

    /// True for [`Lab::up_dnat`]'s lab: its VIPs forward by DNAT.
    pub fn is_dnat(&self) -> bool {
        self.dnat
    }

    /// True when some backends are DSR and others NAT: the NAT ones then
    /// get a VIP of their own ([`Lab::nat_vip`]).
    pub fn is_mixed(&self) -> bool {
        self.nat_backends > 0 && self.nat_backends < self.spec.backends
    }

    /// The NAT VIP's address, if the lab has NAT backends: VIP itself when
    /// every backend is a NAT backend (so every test helper aimed at VIP
    /// serves), else a second VIP (198.51.100.20).
    pub fn nat_vip(&self) -> Option<Ipv4Addr> {
        match self.nat_backends {
            0 => None,
            _ if self.is_mixed() => Some(addr::nat_vip()),
            _ => Some(addr::vip()),
        }
    }

    /// The NAT VIP's IPv6 address, when the lab has IPv6 and NAT backends.
    pub fn nat_vip6(&self) -> Option<Ipv6Addr> {
        match self.nat_backends {
            0 => None,
            _ if !self.spec.ipv6 => None,
            _ if self.is_mixed() => Some(addr::nat_vip6()),
            _ => Some(addr::vip6()),
        }
    }

    /// `http://198.51.100.10<path>`.
    pub fn vip_url(&self, path: &str) -> String {
        format!("http://{}{path}", addr::vip())
    }

    /// `http://[2001:db8:100::10]<path>`, when the lab has IPv6.
    pub fn vip6_url(&self, path: &str) -> Option<String> {
        self.vip6().map(|v| format!("http://[{v}]{path}"))
    }

    pub fn backends(&self) -> &[Backend] {
        &self.backends
    }

    /// The backend called `name` ("web-2").
    pub fn backend(&self, name: &str) -> Result<&Backend> {
        match self.backends.iter().find(|b| b.name() == name) {
            Some(b) => Ok(b),
            None => bail!("no backend {name:?} in this lab"),
        }
    }

    /// Sends `req` from the client namespace.
    pub fn request(&self, req: &Request) -> Result<Response> {
        client::send(self.client_ns(), req)
    }

    /// Starts `req` from the client namespace in the background.
    pub fn spawn_request(&self, req: Request) -> InFlight {
        client::spawn(self.client_ns(), req)
    }

    /// `/sys/fs/bpf/<tag>`: the daemon's `pin_root`, removed at teardown.
    pub fn pin_root(&self) -> PathBuf {
        pin_root_of(&self.tag)
    }

    /// Starts a process of the caller's (e.g. `self.client_ns().exec(..)`)
    /// as one of the lab's: its own process group, output appended to `log`,
    /// killed at teardown (and on Ctrl-C) if still running.
    pub fn spawn(&self, name: &str, cmd: Command, log: Option<&Path>) -> Result<Proc> {
        Proc::spawn(name, cmd, log, self.registry())
    }

    pub(crate) fn registry(&self) -> &Registry {
        &self.cleanup.procs
    }

    /// Tears down now and reports what failed (drop does the same silently,
    /// printing errors).
    pub fn down(mut self) -> Result<()> {
        let errors = self.teardown();
        if errors.is_empty() {
            Ok(())
        } else {
            bail!("lab teardown: {}", errors.join("; "))
        }
    }

    fn teardown(&mut self) -> Vec<String> {
        guard::unregister(&self.cleanup);
        // Backends first (their handles kill their process groups), then
        // anything else the lab started, then namespaces, pins, the dir.
        for b in &self.backends {
            b.kill();
        }
        self.cleanup.run()
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for e in self.teardown() {
            eprintln!("lb-lab: teardown: {e}");
        }
    }
}

pub(crate) fn pin_root_of(tag: &str) -> PathBuf {
    Path::new("/sys/fs/bpf").join(tag)
}
