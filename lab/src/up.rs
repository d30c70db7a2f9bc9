//! Building a lab ([`Lab::up`] and its variants): the namespaces, wired
//! into one L2 segment (`wiring.rs`, with the fleet's router in front:
//! `router.rs`), with every backend started and ready. What is built stays
//! registered for teardown from the first step, so a failure or a Ctrl-C
//! half-way removes it.

use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

use anyhow::{Context as _, Result, ensure};

use crate::{
    addr,
    backend::{BACKEND_READY_TIMEOUT, Backend, Callers},
    guard::{self, Cleanup},
    host::Host,
    netns::Netns,
    router,
    topology::{Lab, LabSpec, pin_root_of},
};

/// What stands between the client and the segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Front {
    /// The client is on the segment, with a static route to the VIP via the LB.
    Client,
    /// A router is on the segment and the client behind it (`router.rs`).
    Router,
}

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
        let host = |ns: &Netns, iface: &str, h: u8| Host::on_segment(ns, iface, h, spec.ipv6);
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
            Front::Router => router::client_host(&client, spec.ipv6),
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
}

fn abort(cleanup: &Arc<Cleanup>) {
    guard::unregister(cleanup);
    for e in cleanup.run() {
        eprintln!("lb-lab: teardown: {e}");
    }
}
