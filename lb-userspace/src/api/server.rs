//! Serving the control API on its Unix socket: claiming the socket path
//! safely, and giving it back on exit.

use std::{
    future::Future,
    io,
    os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, PermissionsExt},
    path::Path,
    sync::Arc,
};

use anyhow::{Context, bail};
use tokio::net::{UnixListener, UnixStream};

use super::{
    control::Control,
    guard::{Access, Peer},
    routes::router,
};

/// Mode of the main control socket: only its owner may connect.
pub const MODE_FULL: u32 = 0o600;
/// Mode of the read-only socket: its owner and its group.
pub const MODE_READ_ONLY: u32 = 0o660;

/// Serves the control API on the Unix socket `socket` until `shutdown`
/// completes, then removes the socket file.
///
/// A socket file left by a daemon that died is replaced; one a live daemon
/// answers on is an error, so two daemons never fight over one socket.
pub async fn serve<C: Control>(
    control: Arc<C>,
    socket: &Path,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let listener = bind(socket, MODE_FULL, None).await?;
    serve_on(listener, socket, control, Access::Full, shutdown).await
}

/// Serves on a socket bound earlier by [`bind`].
pub async fn serve_on<C: Control>(
    listener: UnixListener,
    socket: &Path,
    control: Arc<C>,
    access: Access,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let ours = identity(socket)?;
    tracing::info!(socket = %socket.display(), ?access, "control API listening");
    let app = router(control, access).into_make_service_with_connect_info::<Peer>();
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
        .with_context(|| format!("serving the control API on {}", socket.display()));
    // Only our own socket file: a newer daemon may already have replaced it.
    if identity(socket).ok() == Some(ours)
        && let Err(e) = std::fs::remove_file(socket)
    {
        tracing::warn!(socket = %socket.display(), "cannot remove the socket: {e}");
    }
    served
}

/// Creates the parent directory if needed, clears a stale socket, binds, and
/// sets the socket's mode (`MODE_FULL`: owner-only, the API can stop
/// traffic) and, if given, its group.
pub async fn bind(socket: &Path, mode: u32, group: Option<u32>) -> anyhow::Result<UnixListener> {
    if let Some(parent) = socket.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(parent)
            .with_context(|| format!("creating the socket directory {}", parent.display()))?;
    }
    clear_stale(socket).await?;
    let listener = UnixListener::bind(socket)
        .with_context(|| format!("binding the control socket {}", socket.display()))?;
    // Until this chmod the mode comes from the umask; with the usual 022
    // nobody else can connect (connect needs write permission) meanwhile.
    if let Some(gid) = group {
        std::os::unix::fs::chown(socket, None, Some(gid))
            .with_context(|| format!("giving {} to group {gid}", socket.display()))?;
    }
    std::fs::set_permissions(socket, std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("setting the mode of {} to {mode:o}", socket.display()))?;
    Ok(listener)
}

/// Removes `socket` if it is a socket nobody answers on.
async fn clear_stale(socket: &Path) -> anyhow::Result<()> {
    let meta = match std::fs::symlink_metadata(socket) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e).with_context(|| format!("inspecting {}", socket.display())),
    };
    if !meta.file_type().is_socket() {
        bail!(
            "{} exists and is not a socket; refusing to replace it (remove it or set another \
             [daemon] socket)",
            socket.display()
        );
    }
    match UnixStream::connect(socket).await {
        Ok(_) => bail!(
            "another lb daemon is listening on {}; stop it first (or use another [daemon] socket)",
            socket.display()
        ),
        Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
            tracing::info!(socket = %socket.display(), "removing a stale control socket");
            std::fs::remove_file(socket)
                .with_context(|| format!("removing the stale socket {}", socket.display()))
        }
        Err(e) => Err(e).with_context(|| format!("probing the socket {}", socket.display())),
    }
}

/// What tells our socket file from one created later at the same path.
fn identity(path: &Path) -> anyhow::Result<(u64, u64)> {
    let meta = std::fs::symlink_metadata(path)
        .with_context(|| format!("inspecting {}", path.display()))?;
    Ok((meta.dev(), meta.ino()))
}
