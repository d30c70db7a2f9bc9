//! The real `lb` daemon in the lab's LB namespace, and its CLI.
//!
//! Started with `nsenter --net=` (not `ip netns exec`): only the network
//! namespace changes, so its pins land in the host's `/sys/fs/bpf` and
//! survive the process, which is what lets a restarted daemon adopt them
//! (docs/toolchain.md). Its pins go under the lab's own `pin_root`, removed when
//! the daemon handle drops: removing the pinned link detaches the program
//! (and deleting the namespace destroys the veth anyway).

use std::{
    path::{Path, PathBuf},
    process::{Command, ExitStatus, Output},
    sync::Arc,
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result, bail};

use crate::{
    config::{ConfigSpec, LbConfig},
    guard,
    netns::{self, Netns},
    proc::{Proc, Registry, tail},
    topology::Lab,
};

mod cli;

/// Bound on a CLI call that is not expected to wait (status, enable, ...).
pub const CLI_TIMEOUT: Duration = Duration::from_secs(30);

pub struct Daemon {
    lb: PathBuf,
    ns: Arc<Netns>,
    registry: Registry,
    config_path: PathBuf,
    config: LbConfig,
    log_path: PathBuf,
    proc: Option<Proc>,
    /// Runs `lb daemon` under this command (e.g. `setpriv ...`), inside the
    /// LB namespace; empty: directly.
    wrapper: Vec<String>,
}

/// An unprivileged user for the daemon: `setpriv` switches to it and keeps
/// only `caps` (names as setpriv takes them: bpf, net_admin, ...).
#[derive(Clone, Debug)]
pub struct RunAs {
    pub uid: u32,
    pub gid: u32,
    pub caps: Vec<String>,
}

impl RunAs {
    /// The `setpriv` command line: that user, no supplementary groups, and
    /// exactly `caps` as inheritable, ambient and bounding set.
    pub fn setpriv(&self) -> Vec<String> {
        let set: String = self.caps.iter().map(|c| format!(",+{c}")).collect();
        vec![
            "setpriv".into(),
            format!("--reuid={}", self.uid),
            format!("--regid={}", self.gid),
            "--clear-groups".into(),
            format!("--inh-caps=-all{set}"),
            format!("--ambient-caps=-all{set}"),
            format!("--bounding-set=-all{set}"),
            "--".into(),
        ]
    }
}

impl Daemon {
    /// Writes the config for `spec` and starts `lb daemon --config FILE`
    /// (`lb` is the binary, e.g. `target/debug/lb`). Does not wait: see
    /// [`Daemon::wait_ready`].
    pub fn start(lab: &Lab, lb: &Path, spec: &ConfigSpec) -> Result<Daemon> {
        Daemon::start_with(lab, lb, LbConfig::render(lab, spec))
    }

    /// Same, with a config the caller built or edited.
    pub fn start_with(lab: &Lab, lb: &Path, config: LbConfig) -> Result<Daemon> {
        Daemon::start_as(lab, lb, config, None)
    }

    /// Same, as `user` when given: the pin root and the directories of the
    /// socket and the state file (which must not be the lab's own) are
    /// handed to that user first.
    pub fn start_as(
        lab: &Lab,
        lb: &Path,
        config: LbConfig,
        user: Option<&RunAs>,
    ) -> Result<Daemon> {
        Daemon::start_wrapped(lab, lb, config, user, &[])
    }

    /// Same, under `wrapper` too (e.g. `strace -f -o FILE`), outermost.
    pub fn start_wrapped(
        lab: &Lab,
        lb: &Path,
        config: LbConfig,
        user: Option<&RunAs>,
        wrapper: &[&str],
    ) -> Result<Daemon> {
        Daemon::launch(lab, lab.lb_ns_arc(), "lb", lb, config, user, wrapper)
    }

    /// Same as [`Daemon::start_with`], in namespace `ns` (a fleet node's),
    /// its config and log named `<stem>.toml` and `<stem>-daemon.log` in the
    /// lab dir.
    pub fn start_in(
        lab: &Lab,
        ns: Arc<Netns>,
        stem: &str,
        lb: &Path,
        config: LbConfig,
    ) -> Result<Daemon> {
        Daemon::launch(lab, ns, stem, lb, config, None, &[])
    }

    fn launch(
        lab: &Lab,
        ns: Arc<Netns>,
        stem: &str,
        lb: &Path,
        config: LbConfig,
        user: Option<&RunAs>,
        wrapper: &[&str],
    ) -> Result<Daemon> {
        if !lb.is_file() {
            bail!(
                "no lb binary at {} (build it: cargo build -p lb-userspace)",
                lb.display()
            );
        }
        mount_bpffs()?;
        let pin_root = PathBuf::from(&config.daemon.pin_root);
        std::fs::create_dir_all(&pin_root)
            .with_context(|| format!("creating {}", pin_root.display()))?;
        if let Some(user) = user {
            let dirs = [&config.daemon.socket, &config.daemon.state_file]
                .map(|p| Path::new(p).parent().map(Path::to_path_buf));
            for dir in dirs.iter().flatten() {
                if dir == lab.dir() {
                    bail!("give the daemon's socket and state file their own directory");
                }
                std::fs::create_dir_all(dir)?;
            }
            for dir in dirs.iter().flatten().chain([&pin_root]) {
                std::os::unix::fs::chown(dir, Some(user.uid), Some(user.gid))
                    .with_context(|| format!("handing {} to uid {}", dir.display(), user.uid))?;
            }
        }
        let mut d = Daemon {
            lb: lb.canonicalize()?,
            ns,
            registry: lab.registry().clone(),
            config_path: lab.dir().join(format!("{stem}.toml")),
            config,
            log_path: lab.dir().join(format!("{stem}-daemon.log")),
            proc: None,
            wrapper: wrapper
                .iter()
                .map(std::string::ToString::to_string)
                .chain(user.map(RunAs::setpriv).unwrap_or_default())
                .collect(),
        };
        d.write_config(&d.config.clone())?;
        d.spawn()?;
        Ok(d)
    }

    fn spawn(&mut self) -> Result<()> {
        let (lb, cfg) = (
            self.lb.to_string_lossy(),
            self.config_path.to_string_lossy(),
        );
        let mut argv: Vec<&str> = self.wrapper.iter().map(String::as_str).collect();
        argv.extend([&*lb, "daemon", "--config", &cfg]);
        let mut cmd = self.ns.nsenter(&argv);
        if std::env::var_os("RUST_LOG").is_none() {
            cmd.env("RUST_LOG", "info");
        }
        self.proc = Some(Proc::spawn(
            "lb daemon",
            cmd,
            Some(&self.log_path),
            &self.registry,
        )?);
        Ok(())
    }

    /// Polls `lb status --json` until it answers, at most `timeout`; returns
    /// that status. Fails at once, with the log, if the daemon exited.
    pub fn wait_ready(&self, timeout: Duration) -> Result<serde_json::Value> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.proc.as_ref().and_then(Proc::exit_status) {
                bail!(
                    "lb daemon exited ({status}); its log:\n{}",
                    self.log_tail(40)
                );
            }
            let out = self.lb_timeout(&["status", "--json"], Duration::from_secs(5))?;
            if out.status.success() {
                return serde_json::from_slice(&out.stdout).context("parsing `lb status --json`");
            }
            if Instant::now() >= deadline {
                bail!(
                    "lb daemon not answering after {timeout:?}: {}\nits log:\n{}",
                    String::from_utf8_lossy(&out.stderr).trim(),
                    self.log_tail(40)
                );
            }
            thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn config(&self) -> &LbConfig {
        &self.config
    }

    pub fn config_path(&self) -> &Path {
        &self.config_path
    }

    /// The control socket.
    pub fn socket(&self) -> PathBuf {
        PathBuf::from(&self.config.daemon.socket)
    }

    pub fn pin_root(&self) -> PathBuf {
        PathBuf::from(&self.config.daemon.pin_root)
    }

    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    pub fn log_tail(&self, lines: usize) -> String {
        tail(&self.log_path, lines)
    }

    /// Rewrites the config file (then `lb reload`, or a restart, reads it).
    pub fn write_config(&mut self, config: &LbConfig) -> Result<()> {
        config.write(&self.config_path)?;
        self.config = config.clone();
        Ok(())
    }

    /// Writes `config` and runs `lb reload`.
    pub fn reload_with(&mut self, config: &LbConfig) -> Result<Output> {
        self.write_config(config)?;
        self.lb(&["reload"])
    }

    pub fn pid(&self) -> Option<u32> {
        self.proc.as_ref().map(Proc::pid)
    }

    pub fn is_running(&self) -> bool {
        self.proc.as_ref().is_some_and(Proc::is_running)
    }

    /// How the daemon process ended, None while it runs (or after a kill).
    pub fn exit_status(&self) -> Option<ExitStatus> {
        self.proc.as_ref().and_then(Proc::exit_status)
    }

    /// SIGKILL: a crash. Pins stay (a new daemon adopts them).
    pub fn kill9(&mut self) {
        if let Some(p) = self.proc.take() {
            p.kill();
        }
    }

    /// SIGTERM and wait (10 s, then SIGKILL): the daemon stops, the data
    /// plane stays attached and pinned.
    pub fn stop(&mut self) -> Result<Option<ExitStatus>> {
        let Some(p) = self.proc.take() else {
            return Ok(None);
        };
        if !p.is_running() {
            return Ok(p.exit_status());
        }
        p.signal(libc::SIGTERM)?;
        if let Some(s) = p.wait_timeout(Duration::from_secs(10))? {
            Ok(Some(s))
        } else {
            p.kill();
            bail!(
                "lb daemon ignored SIGTERM for 10 s; killed. Log:\n{}",
                self.log_tail(20)
            )
        }
    }

    /// Runs `lb` from now on (for the next [`Daemon::restart`]): an upgrade
    /// to another build of the binary.
    pub fn set_binary(&mut self, lb: &Path) -> Result<()> {
        self.lb = lb
            .canonicalize()
            .with_context(|| format!("no lb binary at {}", lb.display()))?;
        Ok(())
    }

    /// Starts the daemon again with the current config file (after
    /// [`Daemon::stop`] or [`Daemon::kill9`]); it should adopt the pins.
    pub fn restart(&mut self) -> Result<()> {
        if self.is_running() {
            bail!("the daemon is still running");
        }
        self.spawn()
    }

    /// Removes the lab's pins (detaching the program once no daemon holds it).
    pub fn remove_pins(&self) -> Result<()> {
        let root = self.pin_root();
        guard::remove_path(&root).with_context(|| format!("removing {}", root.display()))
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill9();
        // No daemon any more: `lb teardown --config` removes what the config
        // names (pins, state file, the daemon's lock file); then, whatever
        // happened, the pins by hand.
        let config = self.config_path.to_string_lossy().into_owned();
        let _ = self.lb_timeout(&["teardown", "--config", &config], Duration::from_secs(10));
        if let Err(e) = self.remove_pins() {
            eprintln!("lb-lab: {e:#}");
        }
    }
}

/// The host's bpffs at /sys/fs/bpf, mounted if it is not (docs/toolchain.md).
pub fn mount_bpffs() -> Result<()> {
    let mounted = Command::new("mountpoint")
        .args(["-q", "/sys/fs/bpf"])
        .status()?
        .success();
    if !mounted {
        netns::run(Command::new("mount").args(["-t", "bpf", "bpf", "/sys/fs/bpf"]))?;
    }
    Ok(())
}
