//! Processes the lab starts: each leads its own process group (so a whole
//! Gunicorn master + workers tree, or wrk and its threads, can be killed at
//! once) and is killed and reaped when its handle drops.
//!
//! Every process is also registered (weakly) with its lab, so the lab's
//! teardown and the Ctrl-C guard can kill whatever is still running even if
//! the caller leaked a handle. A process group is only ever signalled while
//! its leader is unreaped (checked under the lock), so a recycled pid can
//! never make us signal someone else's processes.

use std::{
    fs::OpenOptions,
    os::unix::process::CommandExt as _,
    path::Path,
    process::{Child, Command, ExitStatus, Stdio},
    sync::{Arc, Mutex, MutexGuard, Weak},
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result, bail};

/// The last `lines` lines of the log at `path` (empty if there is none),
/// for the error that says why a started process failed.
pub(crate) fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// The processes a lab started (weak: the owner's handle decides lifetime).
pub type Registry = Arc<Mutex<Vec<Weak<Mutex<Child>>>>>;

/// A started process, killed (with its whole group) and reaped on drop.
#[derive(Debug)]
pub struct Proc {
    name: String,
    pid: u32,
    child: Arc<Mutex<Child>>,
}

fn lock(child: &Mutex<Child>) -> MutexGuard<'_, Child> {
    // A panic while holding the lock leaves the Child usable; keep going so
    // teardown still works after a failed assertion.
    child
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Proc {
    /// Spawns `cmd` as a new process group, stdin closed, stdout and stderr
    /// appended to `log` (or discarded), and registers it in `registry`.
    pub fn spawn(
        name: &str,
        mut cmd: Command,
        log: Option<&Path>,
        registry: &Registry,
    ) -> Result<Proc> {
        let (out, err) = match log {
            Some(path) => {
                let f = OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .with_context(|| format!("opening {}", path.display()))?;
                (Stdio::from(f.try_clone()?), Stdio::from(f))
            }
            None => (Stdio::null(), Stdio::null()),
        };
        cmd.process_group(0)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        let child = cmd
            .spawn()
            .with_context(|| format!("starting {name}: {cmd:?}"))?;
        let pid = child.id();
        let child = Arc::new(Mutex::new(child));
        registry
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(Arc::downgrade(&child));
        Ok(Proc {
            name: name.to_owned(),
            pid,
            child,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The pid (also the process group id).
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The exit status once it has exited (reaping it), else None.
    pub fn exit_status(&self) -> Option<ExitStatus> {
        lock(&self.child).try_wait().ok().flatten()
    }

    pub fn is_running(&self) -> bool {
        self.exit_status().is_none()
    }

    /// Sends `sig` to the process itself (not its group), if still running.
    pub fn signal(&self, sig: libc::c_int) -> Result<()> {
        let mut child = lock(&self.child);
        if child.try_wait()?.is_some() {
            bail!("{} (pid {}) has already exited", self.name, self.pid);
        }
        // SAFETY: plain syscall; the pid is our unreaped child.
        if unsafe { libc::kill(self.pid.cast_signed(), sig) } != 0 {
            return Err(std::io::Error::last_os_error())
                .with_context(|| format!("signal {sig} to {} (pid {})", self.name, self.pid));
        }
        Ok(())
    }

    /// Waits up to `timeout` for it to exit.
    pub fn wait_timeout(&self, timeout: Duration) -> Result<Option<ExitStatus>> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = lock(&self.child).try_wait()? {
                return Ok(Some(status));
            }
            if Instant::now() >= deadline {
                return Ok(None);
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL to the whole group, then reaps the leader.
    pub fn kill(&self) {
        kill_group(&self.child, self.pid);
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

fn kill_group(child: &Mutex<Child>, pid: u32) {
    let mut child = lock(child);
    if matches!(child.try_wait(), Ok(Some(_))) {
        // The leader is reaped; its pid may be recycled. Any grandchild left
        // in the group has been reparented and the namespace deletion or the
        // lab's teardown deals with it; never signal a recycled pid.
        return;
    }
    // SAFETY: plain syscall on the group our unreaped child leads.
    unsafe { libc::kill(-pid.cast_signed(), libc::SIGKILL) };
    let _ = child.wait();
}

/// Kills every still-registered process of a lab (teardown, Ctrl-C).
pub fn kill_all(registry: &Registry) {
    let procs: Vec<_> = registry
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .drain(..)
        .filter_map(|w| w.upgrade())
        .collect();
    for child in procs {
        let pid = lock(&child).id();
        kill_group(&child, pid);
    }
}
