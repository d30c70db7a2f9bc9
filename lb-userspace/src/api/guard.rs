//! In front of every route: who is calling (SO_PEERCRED of the Unix socket
//! connection), and whether this socket allows changes at all.

use axum::{
    extract::{
        Request, State,
        connect_info::{ConnectInfo, Connected},
    },
    http::{Method, StatusCode},
    middleware::Next,
    response::{IntoResponse, Response},
    serve::IncomingStream,
};
use tokio::net::UnixListener;

use super::error::ApiError;

/// What a socket lets its callers do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Everything (the main socket, mode 0600).
    Full,
    /// Reads only: status, one backend, flows, metrics. Anything else is 403.
    ReadOnly,
}

/// The caller at the other end of a Unix socket connection.
#[derive(Clone, Copy, Debug, Default)]
pub struct Peer {
    pub uid: Option<u32>,
    pub pid: Option<i32>,
}

impl Connected<IncomingStream<'_, UnixListener>> for Peer {
    fn connect_info(stream: IncomingStream<'_, UnixListener>) -> Self {
        match stream.io().peer_cred() {
            Ok(cred) => Peer {
                uid: Some(cred.uid()),
                pid: cred.pid(),
            },
            Err(_) => Peer::default(),
        }
    }
}

fn reads_only(method: &Method) -> bool {
    method == Method::GET || method == Method::HEAD
}

/// Refuses changes on a read-only socket; logs every change with its caller.
pub async fn guard(State(access): State<Access>, request: Request, next: Next) -> Response {
    if reads_only(request.method()) {
        return next.run(request).await;
    }
    let peer = request
        .extensions()
        .get::<ConnectInfo<Peer>>()
        .map(|c| c.0)
        .unwrap_or_default();
    let (method, path) = (request.method().clone(), request.uri().path().to_owned());
    if access == Access::ReadOnly {
        tracing::warn!(uid = ?peer.uid, pid = ?peer.pid, %method, path, "refused a change on the read-only socket");
        return ApiError::new(
            StatusCode::FORBIDDEN,
            "read_only",
            format!("{method} {path}: this socket is read-only; use the daemon's main socket"),
        )
        .into_response();
    }
    let response = next.run(request).await;
    tracing::info!(
        uid = ?peer.uid,
        pid = ?peer.pid,
        %method,
        path,
        status = response.status().as_u16(),
        "control API call"
    );
    response
}
