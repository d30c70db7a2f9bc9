//! Watching the process a drain's shutdown signal went to: the core is told
//! when it exits (`Msg::ProcessExited`), and the drain may end then.

use tokio::sync::mpsc;

use super::{msg::Msg, pidfd};

/// Tells the core when the process `pid` (the target of `name`'s shutdown
/// signal) exits. A pidfd that cannot be opened because the process is gone
/// means it exited; any other failure means we cannot tell, and the drain
/// then ends by its flows or its deadline.
pub async fn watch_exit(
    tx: mpsc::Sender<Msg>,
    name: String,
    pid: u32,
    fd: Option<std::os::fd::OwnedFd>,
) {
    let fd = match fd.map_or_else(|| pidfd::open(pid), Ok) {
        Ok(fd) => fd,
        Err(e) if e.raw_os_error() == Some(libc::ESRCH) => {
            let _ = tx.send(Msg::ProcessExited { backend: name, pid }).await;
            return;
        }
        Err(e) => {
            tracing::warn!(backend = name, pid, error = %e, "cannot watch the signalled process for its exit");
            return;
        }
    };
    match pidfd::exited(fd).await {
        Ok(()) => {
            let _ = tx.send(Msg::ProcessExited { backend: name, pid }).await;
        }
        Err(e) => {
            tracing::warn!(backend = name, pid, error = %e, "cannot watch the signalled process for its exit");
        }
    }
}
