//! Teardown that also happens on Ctrl-C / SIGTERM / SIGHUP, not only on drop
//! or panic: a killed test must not leave namespaces, backends or pinned XDP
//! programs behind.
//!
//! Each live lab registers a [`Cleanup`]. The first registration installs
//! handlers (only for signals still at their default action, so a caller's
//! own handler wins; such a caller can call [`cleanup_all`] itself). The
//! handler only writes the signal number to a pipe (async-signal-safe); a
//! watcher thread then runs every live cleanup and exits with 128 + signal.

use std::{
    path::PathBuf,
    sync::{
        Arc, Mutex, Once,
        atomic::{AtomicI32, Ordering},
    },
    thread,
};

use crate::proc::{self, Registry};

/// What to undo for one lab. Idempotent: teardown steps skip what is gone.
#[derive(Debug, Default)]
pub struct Cleanup {
    pub(crate) procs: Registry,
    pub(crate) namespaces: Mutex<Vec<String>>,
    pub(crate) paths: Mutex<Vec<PathBuf>>,
}

impl Cleanup {
    /// Kills the processes, deletes the namespaces, removes the paths (pin
    /// dirs, lab dir). Returns what failed.
    pub fn run(&self) -> Vec<String> {
        let mut errors = Vec::new();
        proc::kill_all(&self.procs);
        let namespaces: Vec<String> = self
            .namespaces
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .drain(..)
            .collect();
        for ns in namespaces.iter().rev() {
            if let Err(e) = crate::netns::delete(ns) {
                errors.push(format!("{e:#}"));
            }
        }
        let paths: Vec<PathBuf> = self
            .paths
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .drain(..)
            .collect();
        for p in paths.iter().rev() {
            if let Err(e) = remove_path(p) {
                errors.push(format!("removing {}: {e}", p.display()));
            }
        }
        errors
    }

    pub(crate) fn add_namespace(&self, name: &str) {
        self.namespaces
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(name.to_owned());
    }

    pub(crate) fn add_path(&self, path: PathBuf) {
        self.paths
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(path);
    }
}

/// Removes a file or a directory tree; a missing path is fine. Removing a
/// bpffs pin of an XDP link whose daemon is gone detaches the program.
pub fn remove_path(p: &std::path::Path) -> std::io::Result<()> {
    let r = match std::fs::symlink_metadata(p) {
        Ok(m) if m.is_dir() => std::fs::remove_dir_all(p),
        Ok(_) => std::fs::remove_file(p),
        Err(e) => Err(e),
    };
    match r {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        r => r,
    }
}

static LIVE: Mutex<Vec<Arc<Cleanup>>> = Mutex::new(Vec::new());
static INSTALL: Once = Once::new();
/// The pipe's write end, for the handler (an atomic load is signal-safe).
static PIPE_WRITE: AtomicI32 = AtomicI32::new(-1);

pub(crate) fn register(c: &Arc<Cleanup>) {
    INSTALL.call_once(install_handlers);
    LIVE.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .push(Arc::clone(c));
}

pub(crate) fn unregister(c: &Arc<Cleanup>) {
    LIVE.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .retain(|x| !Arc::ptr_eq(x, c));
}

/// Runs the cleanup of every live lab (for callers with their own signal
/// handling). Returns what failed.
pub fn cleanup_all() -> Vec<String> {
    let live: Vec<_> = LIVE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .drain(..)
        .collect();
    live.iter().flat_map(|c| c.run()).collect()
}

extern "C" fn on_signal(sig: libc::c_int) {
    // Signal numbers (1..=64) fit a byte.
    let byte = u8::try_from(sig).unwrap_or(u8::MAX);
    // SAFETY: write(2) is async-signal-safe; the fd is set before the
    // handler is installed and never closed.
    unsafe {
        libc::write(
            PIPE_WRITE.load(Ordering::Relaxed),
            (&raw const byte).cast(),
            1,
        )
    };
}

fn install_handlers() {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: fds has room for the two descriptors.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        eprintln!("lb-lab: no pipe for the signal guard; Ctrl-C will not clean up");
        return;
    }
    PIPE_WRITE.store(fds[1], Ordering::Relaxed);
    let read_fd = fds[0];
    thread::Builder::new()
        .name("lb-lab-signals".into())
        .spawn(move || watch(read_fd))
        .ok();
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: querying and setting dispositions with valid structs.
        unsafe {
            let mut old: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(sig, std::ptr::null(), &raw mut old) != 0
                || old.sa_sigaction != libc::SIG_DFL
            {
                continue;
            }
            let mut new: libc::sigaction = std::mem::zeroed();
            new.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as usize;
            new.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&raw mut new.sa_mask);
            libc::sigaction(sig, &raw const new, std::ptr::null_mut());
        }
    }
}

fn watch(read_fd: libc::c_int) {
    let mut byte = 0u8;
    loop {
        // SAFETY: reading one byte into a local.
        let n = unsafe { libc::read(read_fd, (&raw mut byte).cast(), 1) };
        if n == 1 {
            break;
        }
        if n < 0 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
            continue;
        }
        return;
    }
    eprintln!("lb-lab: signal {byte}: tearing the lab down");
    for e in cleanup_all() {
        eprintln!("lb-lab: teardown: {e}");
    }
    // Exit as the signal would have.
    std::process::exit(128 + i32::from(byte));
}
