//! Leftovers of labs whose process died without teardown (`kill -9`, a
//! crashed runner): their namespaces, the processes still inside, their pins.

use std::process::Command;

use anyhow::Result;

use crate::{guard, netns, topology::pin_root_of};

/// Removes namespaces and pin dirs left by labs whose process is gone (a
/// `kill -9`ed test): names `<prefix>-<pid>[.<n>]-<role>` with a dead pid.
/// Returns the namespaces removed.
pub fn remove_stale(prefix: &str) -> Result<Vec<String>> {
    let mut removed = Vec::new();
    for name in netns::list()? {
        let Some(rest) = name.strip_prefix(&format!("{prefix}-")) else {
            continue;
        };
        let Some((id, _role)) = rest.split_once('-') else {
            continue;
        };
        let Ok(pid) = id.split(['.', '_']).next().unwrap_or("").parse::<i32>() else {
            continue;
        };
        if pid == std::process::id().cast_signed() || pid_alive(pid) {
            continue;
        }
        // Kill what still runs inside, or the namespace outlives its name.
        let pids =
            netns::run(Command::new("ip").args(["netns", "pids", &name])).unwrap_or_default();
        for p in pids
            .split_whitespace()
            .filter_map(|p| p.parse::<i32>().ok())
        {
            // SAFETY: plain syscall; these pids are inside the stale namespace.
            unsafe { libc::kill(p, libc::SIGKILL) };
        }
        netns::delete(&name)?;
        let _ = guard::remove_path(&pin_root_of(&format!("{prefix}-{id}")));
        removed.push(name);
    }
    Ok(removed)
}

fn pid_alive(pid: i32) -> bool {
    // SAFETY: signal 0 only checks existence.
    unsafe {
        libc::kill(pid, 0) == 0
            || std::io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
    }
}
