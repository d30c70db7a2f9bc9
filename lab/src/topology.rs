//! [`Lab::up`]: the namespaces of the test lab, wired into one L2 segment
//! (`wiring.rs`), with its backends started and ready; accessors for
//! everything tests address; teardown.
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
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use anyhow::{Context as _, Result, bail, ensure};

use crate::{
    addr,
    backend::{Backend, Callers},
    guard::{self, Cleanup},
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

/// What stands between the client and the segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Front {
    /// The client is on the segment, with a static route to the VIP via the LB.
    Client,
    /// A router is on the segment and the client behind it (`router.rs`).
    Router,
}

/// One end host's place on the segment.
#[derive(Clone, Debug)]
pub struct Host {
    /// Namespace name.
    pub ns: String,
    /// Its veth, inside its namespace.
    pub iface: String,
    pub ipv4: Ipv4Addr,
    pub ipv6: Option<Ipv6Addr>,
    pub mac: String,
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

/// How long a backend may take to answer /health after start (two Python
/// workers importing FastAPI take 1-2 s on these machines).
pub const BACKEND_READY_TIMEOUT: Duration = Duration::from_secs(30);

static LABS_IN_PROCESS: AtomicUsize = AtomicUsize::new(0);

impl Lab {
    /// Builds the lab and starts every backend, waiting until each answers
    /// `/health` from the client namespace. On error, what was built is torn
    /// down before returning.
    pub fn up(spec: LabSpec) -> Result<Lab> {
        Lab::build(spec, Front::Client)
    }

    /// [`Lab::up`] with the last `nat` of the backends (all of them when
    /// `nat == spec.backends`) as NAT backends: Gunicorn bound to `:8000`
    /// only, no VIP on `lo`, no ARP sysctls, as on any ordinary host. The
    /// daemon's config then forwards to them by NAT ([`Lab::nat_vip`]), and
    /// the LB namespace forwards what the program passes to the kernel (a
    /// translated packet whose next hop is not resolved yet).
    pub fn up_nat(spec: LabSpec, nat: usize) -> Result<Lab> {
        ensure!(
            (1..=spec.backends).contains(&nat),
            "nat backends must be 1..={}, got {nat}",
            spec.backends
        );
        Lab::build_with(spec, Front::Client, nat, false)
    }

    /// The DNAT lab: every backend a NAT-style one (Gunicorn on `:8000`
    /// only), on a subnet of its own (203.0.113.0/24, 2001:db8:203::/64 with
    /// IPv6) whose gateway is the LB (203.0.113.2 on the LB's interface), so
    /// the backends' replies to the client come back through the LB. The
    /// daemon's config forwards to them by DNAT (`forward = "dnat"`), and
    /// they see the client's own address. The client has no route to that
    /// subnet: it reaches the backends only through the VIP (the lab's own
    /// health polls come from the LB namespace).
    pub fn up_dnat(spec: LabSpec) -> Result<Lab> {
        let n = spec.backends;
        Lab::build_with(spec, Front::Client, n, true)
    }

    pub(crate) fn build(spec: LabSpec, front: Front) -> Result<Lab> {
        Lab::build_with(spec, front, 0, false)
    }

    // The public constructors take the spec by value (tests build it inline).
    #[allow(clippy::needless_pass_by_value)]
    fn build_with(spec: LabSpec, front: Front, nat_backends: usize, dnat: bool) -> Result<Lab> {
        ensure!(
            crate::is_root(),
            "the lab needs root (namespaces, veths, bpffs)"
        );
        ensure!(
            (1..=addr::MAX_BACKENDS).contains(&spec.backends),
            "backends must be 1..={}, got {}",
            addr::MAX_BACKENDS,
            spec.backends
        );
        ensure!(
            !spec.prefix.is_empty()
                && spec.prefix.len() <= 12
                && spec
                    .prefix
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
            "prefix {:?}: use 1-12 of a-z, 0-9, -",
            spec.prefix
        );
        crate::paths::gunicorn()?; // fail before building anything if setup is missing

        // `<prefix>-<pid>`, plus `_<n>` for a second lab in the same process,
        // so concurrent runs never collide and leftovers name their owner.
        // (Not a dot: bpffs refuses names with dots, and the tag names the pin dir.)
        let n = LABS_IN_PROCESS.fetch_add(1, Ordering::Relaxed);
        let pid = std::process::id();
        let tag = if n == 0 {
            format!("{}-{pid}", spec.prefix)
        } else {
            format!("{}-{pid}_{n}", spec.prefix)
        };
        let dir = std::env::temp_dir().join(format!("lb-lab-{tag}"));
        let cleanup = Arc::new(Cleanup::default());
        guard::register(&cleanup);
        // Registered before anything exists, so a failure or a Ctrl-C from
        // here on removes whatever was made. Paths are removed last-first.
        if std::env::var_os("LB_LAB_KEEP").is_none() {
            cleanup.add_path(dir.clone());
        }
        cleanup.add_path(pin_root_of(&tag));
        let _ = guard::remove_path(&dir);
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;

        let make = |role: &str| -> Result<Arc<Netns>> {
            let name = format!("{tag}-{role}");
            cleanup.add_namespace(&name);
            Ok(Arc::new(Netns::create(&name)?))
        };
        let host = |ns: &Netns, iface: &str, h: u8| Host {
            ns: ns.name().to_owned(),
            iface: iface.to_owned(),
            ipv4: addr::v4(h),
            ipv6: spec.ipv6.then(|| addr::v6(h)),
            mac: addr::mac(h),
        };
        let switch = make("sw");
        let client = make("client");
        let lb = make("lb");
        let (switch, client, lb) = match (switch, client, lb) {
            (Ok(s), Ok(c), Ok(l)) => (s, c, l),
            (s, c, l) => {
                let err = [s.err(), c.err(), l.err()].into_iter().flatten().next();
                abort(&cleanup);
                return Err(err.expect("one failed"));
            }
        };
        let router = match front {
            Front::Client => None,
            Front::Router => match make("router") {
                Ok(r) => Some(r),
                Err(e) => {
                    abort(&cleanup);
                    return Err(e);
                }
            },
        };
        let client_host = match front {
            Front::Client => host(&client, "lab-client", addr::CLIENT_HOST),
            Front::Router => crate::router::client_host(&client, spec.ipv6),
        };
        let lb_host = host(&lb, "lab-lb", addr::LB_HOST);
        let mut lab = Lab {
            spec: spec.clone(),
            tag: tag.clone(),
            dir,
            cleanup: Arc::clone(&cleanup),
            switch,
            client,
            lb,
            client_host,
            lb_host,
            router,
            backends: Vec::new(),
            nat_backends,
            dnat,
        };
        // From here on `lab`'s Drop tears everything down on error.
        lab.build_switch()?;
        lab.plug(&Arc::clone(&lab.lb), &lab.lb_host.clone(), "sw-lb")?;
        match front {
            Front::Client => {
                lab.plug(
                    &Arc::clone(&lab.client),
                    &lab.client_host.clone(),
                    "sw-client",
                )?;
                lab.setup_client()?;
            }
            Front::Router => lab.wire_router()?,
        }
        lab.setup_lb()?;
        for i in 1..=spec.backends {
            let name = format!("web-{i}");
            let ns = make(&name)?;
            let mut h = host(&ns, &format!("lab-web{i}"), addr::backend_host(i));
            if dnat {
                h.ipv4 = addr::routed_v4(addr::backend_host(i));
                h.ipv6 = spec.ipv6.then(|| addr::routed_v6(addr::backend_host(i)));
            }
            let nat = i > spec.backends - nat_backends;
            lab.plug(&ns, &h, &format!("sw-web{i}"))?;
            lab.setup_backend_net(&ns, &h, nat)?;
            let b = Backend::new(
                &name,
                i,
                ns,
                h,
                &lab.dir,
                Callers {
                    // DNAT: the client has no route to the backends.
                    probe: Arc::clone(if dnat { &lab.lb } else { &lab.client }),
                    notice: Arc::clone(&lab.lb),
                },
                lab.registry().clone(),
            )
            .nat(nat);
            lab.backends.push(b);
        }
        // Start them all, then wait: the Python imports overlap.
        for b in &lab.backends {
            b.start()?;
        }
        for b in &lab.backends {
            b.wait_ready(BACKEND_READY_TIMEOUT)?;
        }
        Ok(lab)
    }

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

fn abort(cleanup: &Arc<Cleanup>) {
    guard::unregister(cleanup);
    for e in cleanup.run() {
        eprintln!("lb-lab: teardown: {e}");
    }
}
