//! The control sockets, bound before the data plane is touched (step 2 of
//! the daemon's start in `mod.rs`).

use std::path::PathBuf;

use anyhow::Context as _;
use tokio::net::UnixListener;

use crate::{
    api::server::{self, MODE_FULL, MODE_READ_ONLY},
    config::Config,
};

/// The control sockets, bound before the data plane is touched.
pub struct Sockets {
    pub main: (UnixListener, PathBuf),
    pub read_only: Option<(UnixListener, PathBuf)>,
}

impl Sockets {
    pub async fn bind(config: &Config) -> anyhow::Result<Self> {
        let d = &config.daemon;
        let main = (
            server::bind(&d.socket, MODE_FULL, None).await?,
            d.socket.clone(),
        );
        let read_only = match &d.read_only_socket {
            None => None,
            Some(path) => {
                let gid = match &d.read_only_socket_group {
                    None => None,
                    Some(name) => Some(
                        nix::unistd::Group::from_name(name)
                            .with_context(|| format!("looking up group {name}"))?
                            .with_context(|| {
                                format!("daemon.read_only_socket_group: no group named {name:?}")
                            })?
                            .gid
                            .as_raw(),
                    ),
                };
                match server::bind(path, MODE_READ_ONLY, gid).await {
                    Ok(listener) => Some((listener, path.clone())),
                    Err(e) => {
                        let _ = std::fs::remove_file(&d.socket);
                        return Err(e);
                    }
                }
            }
        };
        Ok(Self { main, read_only })
    }

    /// Removes the socket files (a start that failed after binding).
    pub fn remove(&self) {
        let _ = std::fs::remove_file(&self.main.1);
        if let Some((_, path)) = &self.read_only {
            let _ = std::fs::remove_file(path);
        }
    }
}
