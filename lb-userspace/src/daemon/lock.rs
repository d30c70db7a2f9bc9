//! One daemon per pinned data plane: an exclusive advisory lock (flock) on a
//! file named after the pin directory, taken before anything else. The
//! kernel releases it when the process dies, however it dies, so a crashed
//! daemon never leaves a stale lock behind.
//!
//! The lock file cannot live in the pin directory itself: bpffs holds pins
//! and directories, not regular files. It lives under `/run/lb/locks/`.

use std::{
    fs::File,
    io::{Seek as _, Write as _},
    os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _},
    path::{Path, PathBuf},
};

use anyhow::{Context as _, bail};
use nix::{
    errno::Errno,
    fcntl::{Flock, FlockArg},
};

/// Where lock files are made.
pub const LOCK_DIR: &str = "/run/lb/locks";

/// Held for the daemon's whole life; dropping it releases the lock.
#[derive(Debug)]
pub struct PinLock {
    pub path: PathBuf,
    _lock: Flock<File>,
}

/// The lock file of `<pin_root>/<interface>`: the path, escaped into one name.
pub fn lock_path(lock_dir: &Path, pin_root: &Path, interface: &str) -> PathBuf {
    let dir = pin_root.join(interface);
    let mut name = String::new();
    for c in dir.to_string_lossy().chars() {
        match c {
            '%' => name.push_str("%25"),
            '/' => name.push_str("%2F"),
            c => name.push(c),
        }
    }
    name.push_str(".lock");
    lock_dir.join(name)
}

/// Removes the lock file of a data plane that `lb teardown` removed: nothing
/// is left to protect, and nothing should be left behind.
pub fn remove_lock_file(pin_root: &Path, interface: &str) {
    let path = lock_path(Path::new(LOCK_DIR), pin_root, interface);
    match std::fs::remove_file(&path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => tracing::warn!(lock = %path.display(), error = %e, "cannot remove the lock file"),
    }
}

impl PinLock {
    /// Takes the lock or fails at once, saying who holds it.
    pub fn acquire(lock_dir: &Path, pin_root: &Path, interface: &str) -> anyhow::Result<Self> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(lock_dir)
            .with_context(|| format!("creating the lock directory {}", lock_dir.display()))?;
        let path = lock_path(lock_dir, pin_root, interface);
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&path)
            .with_context(|| format!("opening the lock file {}", path.display()))?;
        match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(lock) => {
                let mut lock = lock;
                // Who holds it, for the next one's error message.
                let _ = lock.set_len(0);
                let _ = lock.seek(std::io::SeekFrom::Start(0));
                let _ = writeln!(lock, "{}", std::process::id());
                Ok(Self { path, _lock: lock })
            }
            Err((_, Errno::EWOULDBLOCK)) => {
                let holder = std::fs::read_to_string(&path).unwrap_or_default();
                bail!(
                    "another lb daemon (pid {}) already runs the data plane {}; stop it first \
                     (lock {})",
                    holder.trim(),
                    pin_root.join(interface).display(),
                    path.display()
                )
            }
            Err((_, e)) => Err(e).with_context(|| format!("locking {}", path.display())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_the_same_pins_is_refused_until_the_first_goes() {
        let dir = std::env::temp_dir().join(format!("lb-lock-{}", std::process::id()));
        let pins = Path::new("/sys/fs/bpf/lb");
        let first = PinLock::acquire(&dir, pins, "eth0").unwrap();
        let e = PinLock::acquire(&dir, pins, "eth0").unwrap_err();
        let text = format!("{e:#}");
        assert!(text.contains("another lb daemon"), "{text}");
        assert!(text.contains(&std::process::id().to_string()), "{text}");
        // Another interface is another data plane.
        let other = PinLock::acquire(&dir, pins, "eth1").unwrap();
        drop(first);
        let again = PinLock::acquire(&dir, pins, "eth0").unwrap();
        drop((other, again));
        assert_eq!(
            lock_path(&dir, pins, "eth0").file_name().unwrap(),
            "%2Fsys%2Ffs%2Fbpf%2Flb%2Feth0.lock"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
