//! etcd (Debian's `etcd-server`, 3.4) for the fleet: one member, listening
//! only on an address inside a lab namespace, its data in the lab dir.
//!
//! [`Etcd::start`] runs it in a namespace the caller owns (the fleet lab's
//! `etcd` namespace, on the bridge); [`EtcdLab`] is a namespace of its own
//! with etcd on its loopback, for tests of the cluster store that need no
//! data plane.

use std::{
    net::IpAddr,
    path::{Path, PathBuf},
    sync::Arc,
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result, bail, ensure};

use crate::{
    guard::{self, Cleanup},
    netns::{self, Netns},
    proc::{Proc, Registry, tail},
};

/// etcd's client port.
pub const CLIENT_PORT: u16 = 2379;
/// A single member starts and elects itself in ~1 s here; leave room for a
/// loaded machine.
pub const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// A running etcd; killed on drop.
pub struct Etcd {
    ns: Arc<Netns>,
    address: IpAddr,
    log: PathBuf,
    proc: Option<Proc>,
    data_dir: PathBuf,
    registry: Registry,
}

impl Etcd {
    /// Starts etcd in `ns`, serving clients on `address`:2379 only (peers on
    /// 127.0.0.1:2380 inside `ns`), its data under `dir`. Does not wait: see
    /// [`Etcd::wait_ready`].
    pub fn start(ns: Arc<Netns>, address: IpAddr, dir: &Path, registry: &Registry) -> Result<Etcd> {
        let mut etcd = Etcd {
            ns,
            address,
            log: dir.join("etcd.log"),
            proc: None,
            data_dir: dir.join("etcd-data"),
            registry: registry.clone(),
        };
        etcd.spawn()?;
        Ok(etcd)
    }

    fn spawn(&mut self) -> Result<()> {
        ensure!(self.proc.is_none(), "etcd is already running");
        let client = self.endpoint();
        let data = self.data_dir.display().to_string();
        let cmd = self.ns.exec(&[
            "etcd",
            "--name",
            "lab",
            "--data-dir",
            &data,
            "--listen-client-urls",
            &client,
            "--advertise-client-urls",
            &client,
            "--listen-peer-urls",
            "http://127.0.0.1:2380",
            "--initial-advertise-peer-urls",
            "http://127.0.0.1:2380",
            "--initial-cluster",
            "lab=http://127.0.0.1:2380",
            "--logger",
            "zap",
            "--log-level",
            "warn",
        ]);
        self.proc = Some(Proc::spawn("etcd", cmd, Some(&self.log), &self.registry)?);
        Ok(())
    }

    /// `http://<address>:2379`: what `[cluster] etcd` lists.
    pub fn endpoint(&self) -> String {
        match self.address {
            IpAddr::V4(a) => format!("http://{a}:{CLIENT_PORT}"),
            IpAddr::V6(a) => format!("http://[{a}]:{CLIENT_PORT}"),
        }
    }

    /// Polls etcd's `/health` from inside its namespace until it says true.
    pub fn wait_ready(&self, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        let url = format!("{}/health", self.endpoint());
        loop {
            if let Some(status) = self.proc.as_ref().and_then(Proc::exit_status) {
                bail!("etcd exited ({status}); its log:\n{}", tail(&self.log, 30));
            }
            let out = netns::run(&mut self.ns.exec(&["curl", "-sS", "--max-time", "1", &url]));
            if out.is_ok_and(|body| body.contains("\"health\":\"true\"")) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                bail!(
                    "etcd not healthy after {timeout:?}; its log:\n{}",
                    tail(&self.log, 30)
                );
            }
            thread::sleep(Duration::from_millis(100));
        }
    }

    /// SIGKILL (its data stays: [`Etcd::restart`] brings the same store back).
    pub fn kill(&mut self) {
        if let Some(p) = self.proc.take() {
            p.kill();
        }
    }

    /// Starts it again on the same data after [`Etcd::kill`].
    pub fn restart(&mut self) -> Result<()> {
        self.spawn()
    }

    pub fn log_tail(&self, lines: usize) -> String {
        tail(&self.log, lines)
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A namespace holding only an etcd on its loopback, removed on drop, on
/// panic and on Ctrl-C like a lab (the same guard).
pub struct EtcdLab {
    cleanup: Arc<Cleanup>,
    ns: Arc<Netns>,
    etcd: Option<Etcd>,
}

impl EtcdLab {
    /// `<prefix>-<pid>-etcd` with etcd on 127.0.0.1:2379, ready.
    pub fn up(prefix: &str) -> Result<EtcdLab> {
        ensure!(crate::is_root(), "the etcd lab needs root (namespaces)");
        let tag = format!("{prefix}-{}", std::process::id());
        let dir = std::env::temp_dir().join(format!("lb-lab-{tag}"));
        let cleanup = Arc::new(Cleanup::default());
        guard::register(&cleanup);
        if std::env::var_os("LB_LAB_KEEP").is_none() {
            cleanup.add_path(dir.clone());
        }
        let name = format!("{tag}-etcd");
        cleanup.add_namespace(&name);
        let built = (|| -> Result<EtcdLab> {
            let _ = guard::remove_path(&dir);
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            let ns = Arc::new(Netns::create(&name)?);
            let etcd = Etcd::start(
                Arc::clone(&ns),
                IpAddr::from([127, 0, 0, 1]),
                &dir,
                &cleanup.procs,
            )?;
            etcd.wait_ready(READY_TIMEOUT)?;
            Ok(EtcdLab {
                cleanup: Arc::clone(&cleanup),
                ns,
                etcd: Some(etcd),
            })
        })();
        if built.is_err() {
            guard::unregister(&cleanup);
            for e in cleanup.run() {
                eprintln!("lb-lab: teardown: {e}");
            }
        }
        built
    }

    pub fn ns(&self) -> &Arc<Netns> {
        &self.ns
    }

    pub fn etcd(&mut self) -> &mut Etcd {
        self.etcd.as_mut().expect("etcd is there until drop")
    }

    pub fn endpoint(&self) -> String {
        self.etcd.as_ref().map(Etcd::endpoint).unwrap_or_default()
    }
}

impl Drop for EtcdLab {
    fn drop(&mut self) {
        guard::unregister(&self.cleanup);
        drop(self.etcd.take());
        for e in self.cleanup.run() {
            eprintln!("lb-lab: teardown: {e}");
        }
    }
}
