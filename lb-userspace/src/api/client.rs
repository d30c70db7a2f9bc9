//! A client of the control API over its Unix socket: what the CLI uses.
//!
//! One connection per request: calls are rare and short, and a fresh
//! connection never finds itself on a daemon that restarted meanwhile.

use std::{
    fmt::Write as _,
    io,
    path::{Path, PathBuf},
    time::Duration,
};

use http_body_util::{BodyExt, Full};
use hyper::{Method, Request, StatusCode, body::Bytes};
use hyper_util::rt::TokioIo;
use serde::de::DeserializeOwned;
use tokio::net::UnixStream;

use super::types::{
    BackendStatus, DrainRequest, ErrorBody, FleetStatus, FlowPage, NodeStatus, ReloadReport,
    Status, TeardownReport,
};

/// Longer than any single operation of the daemon (a reload, a teardown).
const REQUEST_TIMEOUT: Duration = Duration::from_mins(1);

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// No daemon at the socket: the file is missing or nobody listens on it.
    #[error(
        "cannot reach the lb daemon at {}: {reason} (is `lb daemon` running? use --socket PATH)",
        socket.display()
    )]
    NotRunning {
        socket: PathBuf,
        reason: &'static str,
    },
    /// The daemon answered with an error.
    #[error("{}", body.error)]
    Api { status: u16, body: ErrorBody },
    #[error("talking to the lb daemon at {}: {source}{}", socket.display(), io_hint(source))]
    Io {
        socket: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The daemon's answer is not what this version of `lb` expects.
    #[error("unexpected answer from the lb daemon at {}: {detail}", socket.display())]
    Decode { socket: PathBuf, detail: String },
}

impl ClientError {
    /// The error body's code when the daemon answered with an error.
    pub fn api_code(&self) -> Option<&str> {
        match self {
            ClientError::Api { body, .. } => Some(&body.code),
            _ => None,
        }
    }
}

fn io_hint(e: &io::Error) -> &'static str {
    match e.kind() {
        io::ErrorKind::PermissionDenied => {
            " (the socket is mode 0600: run lb as the daemon's user)"
        }
        io::ErrorKind::TimedOut => " (the daemon did not answer in time)",
        _ => "",
    }
}

pub type ClientResult<T> = Result<T, ClientError>;

#[derive(Clone, Debug)]
pub struct Client {
    socket: PathBuf,
}

impl Client {
    pub fn new(socket: impl Into<PathBuf>) -> Self {
        Client {
            socket: socket.into(),
        }
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }

    pub async fn get_status(&self) -> ClientResult<Status> {
        self.json(Method::GET, "/v1/status", None).await
    }

    /// `lb node` (GET), `lb node drain` / `lb node enable` (POST `/v1/node/{action}`).
    pub async fn node(&self, action: Option<&str>) -> ClientResult<NodeStatus> {
        match action {
            None => self.json(Method::GET, "/v1/node", None).await,
            Some(a) => {
                self.json(Method::POST, &format!("/v1/node/{a}"), None)
                    .await
            }
        }
    }

    pub async fn get_fleet(&self) -> ClientResult<FleetStatus> {
        self.json(Method::GET, "/v1/fleet", None).await
    }

    pub async fn backend(&self, name: &str) -> ClientResult<BackendStatus> {
        self.json(Method::GET, &backend_path(name, ""), None).await
    }

    pub async fn drain(&self, name: &str, request: &DrainRequest) -> ClientResult<BackendStatus> {
        let body = serde_json::to_vec(request).expect("a DrainRequest always serializes");
        self.json(Method::POST, &backend_path(name, "/drain"), Some(body))
            .await
    }

    pub async fn enable(&self, name: &str) -> ClientResult<BackendStatus> {
        self.json(Method::POST, &backend_path(name, "/enable"), None)
            .await
    }

    pub async fn disable(&self, name: &str) -> ClientResult<BackendStatus> {
        self.json(Method::POST, &backend_path(name, "/disable"), None)
            .await
    }

    pub async fn reload(&self) -> ClientResult<ReloadReport> {
        self.json(Method::POST, "/v1/reload", None).await
    }

    /// One page of flows: at most `limit` (the daemon's default if None),
    /// after the cursor `after` (a previous page's `next`).
    pub async fn flows(
        &self,
        backend: Option<&str>,
        limit: Option<usize>,
        after: Option<&str>,
    ) -> ClientResult<FlowPage> {
        let mut query = Vec::new();
        if let Some(name) = backend {
            query.push(format!("backend={}", encode(name)));
        }
        if let Some(limit) = limit {
            query.push(format!("limit={limit}"));
        }
        if let Some(after) = after {
            query.push(format!("after={}", encode(after)));
        }
        let path = if query.is_empty() {
            "/v1/flows".to_owned()
        } else {
            format!("/v1/flows?{}", query.join("&"))
        };
        self.json(Method::GET, &path, None).await
    }

    pub async fn teardown(&self) -> ClientResult<TeardownReport> {
        self.json(Method::POST, "/v1/teardown", None).await
    }

    /// The Prometheus text of `GET /metrics`.
    pub async fn metrics(&self) -> ClientResult<String> {
        let bytes = self.request(Method::GET, "/metrics", None).await?;
        String::from_utf8(bytes.to_vec()).map_err(|e| self.decode(e))
    }

    async fn json<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> ClientResult<T> {
        let bytes = self.request(method, path, body).await?;
        serde_json::from_slice(&bytes).map_err(|e| self.decode(e))
    }

    /// Sends one request; a non-2xx answer becomes [`ClientError::Api`].
    async fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> ClientResult<Bytes> {
        tokio::time::timeout(REQUEST_TIMEOUT, self.try_request(method, path, body))
            .await
            .unwrap_or_else(|_| Err(self.io(io::ErrorKind::TimedOut.into())))
    }

    async fn try_request(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> ClientResult<Bytes> {
        let stream = UnixStream::connect(&self.socket)
            .await
            .map_err(|e| self.connect_error(e))?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| self.io(io::Error::other(e)))?;
        // The connection task ends when the response is read and `sender` dropped.
        tokio::spawn(connection);
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header(hyper::header::HOST, "lb");
        if body.is_some() {
            request = request.header(hyper::header::CONTENT_TYPE, "application/json");
        }
        let request = request
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .map_err(|e| self.io(io::Error::new(io::ErrorKind::InvalidInput, e)))?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| self.io(io::Error::other(e)))?;
        let status = response.status();
        let bytes = response
            .into_body()
            .collect()
            .await
            .map_err(|e| self.io(io::Error::other(e)))?
            .to_bytes();
        if status.is_success() {
            return Ok(bytes);
        }
        Err(ClientError::Api {
            status: status.as_u16(),
            body: serde_json::from_slice(&bytes).unwrap_or_else(|_| fallback_body(status, &bytes)),
        })
    }

    fn connect_error(&self, e: io::Error) -> ClientError {
        let reason = match e.kind() {
            io::ErrorKind::NotFound => "no such socket",
            io::ErrorKind::ConnectionRefused => "nothing is listening on the socket",
            _ => return self.io(e),
        };
        ClientError::NotRunning {
            socket: self.socket.clone(),
            reason,
        }
    }

    fn io(&self, source: io::Error) -> ClientError {
        ClientError::Io {
            socket: self.socket.clone(),
            source,
        }
    }

    fn decode(&self, e: impl std::fmt::Display) -> ClientError {
        ClientError::Decode {
            socket: self.socket.clone(),
            detail: e.to_string(),
        }
    }
}

/// An error answer that is not an [`ErrorBody`] (e.g. from a proxy in between).
fn fallback_body(status: StatusCode, bytes: &[u8]) -> ErrorBody {
    let text = String::from_utf8_lossy(bytes);
    let error = match text.trim() {
        "" => format!("the daemon answered {status}"),
        text => format!("the daemon answered {status}: {text}"),
    };
    ErrorBody {
        error,
        code: "http_error".to_owned(),
    }
}

fn backend_path(name: &str, action: &str) -> String {
    format!("/v1/backends/{}{action}", encode(name))
}

/// Percent-encodes everything but RFC 3986's unreserved characters, so any
/// backend name survives as one path segment or query value.
fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}
