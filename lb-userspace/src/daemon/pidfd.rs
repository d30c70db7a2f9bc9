//! Signalling a local process safely: the pid file is read without following
//! symlinks or blocking on a FIFO, and must be a regular file holding a pid
//! above 1; the signal goes through a pidfd (so a pid reused between reading
//! and signalling cannot be hit), and the same pidfd says when the process
//! exits (it becomes readable), with no /proc polling.

use std::{
    io::{self, Read as _},
    os::{
        fd::{AsRawFd as _, FromRawFd as _, OwnedFd},
        unix::fs::OpenOptionsExt as _,
    },
    path::Path,
};

use crate::config::MAX_PID;

/// Reads the pid in `path`, refusing what a root daemon must not trust.
pub fn read_pid_file(path: &Path) -> Result<u32, String> {
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ELOOP) => format!("pid file {} is a symlink; refusing it", path.display()),
            _ => format!("reading pid file {}: {e}", path.display()),
        })?;
    let meta = file
        .metadata()
        .map_err(|e| format!("inspecting pid file {}: {e}", path.display()))?;
    if !meta.file_type().is_file() {
        return Err(format!(
            "pid file {} is not a regular file; refusing it",
            path.display()
        ));
    }
    let mut text = String::new();
    (&mut file)
        .take(64)
        .read_to_string(&mut text)
        .map_err(|e| format!("reading pid file {}: {e}", path.display()))?;
    parse_pid(text.trim()).map_err(|why| format!("pid file {}: {why}", path.display()))
}

/// A pid we may signal: a number in 2..=MAX_PID (never init, never a group).
pub fn parse_pid(text: &str) -> Result<u32, String> {
    match text.parse::<u32>() {
        Ok(pid) if (2..=MAX_PID).contains(&pid) => Ok(pid),
        Ok(pid) => Err(format!("refusing to signal pid {pid}")),
        Err(_) => Err(format!("holds {text:?}, not a pid")),
    }
}

/// A pidfd for `pid`.
pub fn open(pid: u32) -> io::Result<OwnedFd> {
    let pid =
        libc::pid_t::try_from(pid).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0u32) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel just gave us this fd; nobody else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// Sends `signal` to the process behind `pidfd`.
pub fn send_signal(pidfd: &OwnedFd, signal: i32) -> io::Result<()> {
    // SAFETY: a valid pidfd, a signal number, no siginfo, no flags.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            signal,
            std::ptr::null::<libc::siginfo_t>(),
            0u32,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Resolves when the process behind `pidfd` has exited (the pidfd becomes
/// readable). An error means the exit cannot be watched; it is never taken
/// for an exit.
pub async fn exited(pidfd: OwnedFd) -> io::Result<()> {
    // SAFETY: the AsyncFd owns the pidfd and neither replaces nor closes it
    // while registered.
    let fd = unsafe {
        tokio::io::unix::AsyncFd::register_with_interest(pidfd, tokio::io::Interest::READABLE)?
    };
    let _ready = fd.readable().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pids_that_are_refused() {
        for bad in ["0", "1", "-5", "", "abc", "4194305", "99999999999"] {
            assert!(parse_pid(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_pid("4242"), Ok(4242));
    }

    #[test]
    fn pid_files_that_are_refused() {
        let dir = std::env::temp_dir().join(format!("lb-pidfd-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let good = dir.join("good.pid");
        std::fs::write(&good, "4242\n").unwrap();
        assert_eq!(read_pid_file(&good), Ok(4242));
        let link = dir.join("link.pid");
        std::os::unix::fs::symlink(&good, &link).unwrap();
        assert!(read_pid_file(&link).unwrap_err().contains("symlink"));
        let fifo = dir.join("fifo.pid");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
        assert!(
            read_pid_file(&fifo)
                .unwrap_err()
                .contains("not a regular file")
        );
        assert!(read_pid_file(&dir).is_err());
        let init = dir.join("init.pid");
        std::fs::write(&init, "1").unwrap();
        assert!(read_pid_file(&init).unwrap_err().contains("refusing"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test]
    async fn a_pidfd_signals_and_sees_the_exit() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let fd = open(child.id()).unwrap();
        let watch_fd = open(child.id()).unwrap();
        let watcher = tokio::spawn(exited(watch_fd));
        send_signal(&fd, libc::SIGTERM).unwrap();
        tokio::time::timeout(std::time::Duration::from_secs(10), watcher)
            .await
            .expect("exit seen")
            .unwrap()
            .unwrap();
        let _ = child.wait();
    }
}
