//! The control API end to end over a real Unix socket: server, routes and
//! client against the real daemon core (without a data plane).

use std::{
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    sync::Arc,
};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    sync::oneshot,
    task::JoinHandle,
};

use super::{
    client::{Client, ClientError},
    server::serve,
    test_daemon::{CONFIG, state, stuck_flows, temp_socket},
    types::*,
};

struct Running {
    client: Client,
    socket: PathBuf,
    stop: oneshot::Sender<()>,
    task: JoinHandle<anyhow::Result<()>>,
}

impl Running {
    /// Stops the server and removes its temp dir.
    async fn stop(self) -> anyhow::Result<()> {
        let _ = self.stop.send(());
        let result = self.task.await.unwrap();
        if self.socket.exists() {
            anyhow::bail!("the socket was left behind");
        }
        let _ = std::fs::remove_dir_all(self.socket.parent().unwrap());
        result
    }
}

async fn start_at(socket: PathBuf) -> Running {
    let (stop, stopped) = oneshot::channel::<()>();
    let path = socket.clone();
    let task = tokio::spawn(async move {
        let shutdown = async move {
            let _ = stopped.await;
        };
        let dir = path.parent().unwrap().to_owned();
        std::fs::create_dir_all(&dir)?;
        let config_path = dir.join("lb.toml");
        std::fs::write(&config_path, CONFIG)?;
        let core = crate::daemon::start_core(state(CONFIG), None, config_path, stuck_flows());
        serve(Arc::new(core.handle), &path, shutdown).await
    });
    // Serving once the socket answers with its final mode.
    for _ in 0..400 {
        let ready =
            std::fs::metadata(&socket).is_ok_and(|m| m.permissions().mode() & 0o777 == 0o600);
        if ready || task.is_finished() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    Running {
        client: Client::new(&socket),
        socket,
        stop,
        task,
    }
}

async fn start(tag: &str) -> Running {
    start_at(temp_socket(tag)).await
}

/// A raw request, for what the typed client never sends.
async fn raw(socket: &Path, request: &str) -> (u16, String) {
    let mut stream = tokio::net::UnixStream::connect(socket).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    let status = answer[9..12].parse().unwrap();
    let body = answer.split_once("\r\n\r\n").unwrap().1.to_owned();
    (status, body)
}

fn post(path: &str, body: &str) -> String {
    format!(
        "POST {path} HTTP/1.1\r\nHost: lb\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

fn get(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: lb\r\nConnection: close\r\n\r\n")
}

#[tokio::test]
async fn every_route_answers_through_the_client() {
    let lb = start("routes").await;
    let c = &lb.client;
    let status = c.get_status().await.unwrap();
    assert_eq!(status.vips[0].backends.len(), 2);
    assert_eq!(c.backend("web-1").await.unwrap().name, "web-1");

    let request = DrainRequest {
        timeout: Some("3s".to_owned()),
        no_signal: true,
    };
    let drained = c.drain("web-2", &request).await.unwrap();
    assert_eq!(drained.state, "draining");
    let drain = drained.drain.unwrap();
    assert_eq!((drain.timeout_s, drain.signal), (3.0, SignalState::Skipped));
    assert_eq!(drain.initial_flows, 1);

    assert_eq!(c.disable("web-1").await.unwrap().admin, "disabled");
    assert_eq!(c.enable("web-1").await.unwrap().state, "active");
    assert_eq!(c.reload().await.unwrap().unchanged, ["web-1", "web-2"]);
    let page = c.flows(None, None, None).await.unwrap();
    assert_eq!((page.total, page.flows.len(), page.next), (0, 0, None));
    let page = c.flows(Some("web-2"), Some(10), None).await.unwrap();
    assert_eq!(page.total, 0);
    let metrics = c.metrics().await.unwrap();
    assert!(metrics.contains("\nlb_up 1\n"), "{metrics}");
    let report = c.teardown().await.unwrap();
    assert!(!report.detached, "no data plane to detach");
    lb.stop().await.unwrap();
}

#[tokio::test]
// A drain's `started_at` is its identity, copied not computed: exact on purpose.
#[allow(clippy::float_cmp)]
async fn control_errors_map_to_status_and_code() {
    let lb = start("errors").await;
    let check = |e: ClientError, status: u16, code: &str| match e {
        ClientError::Api { status: s, body } => assert_eq!((s, body.code.as_str()), (status, code)),
        other => panic!("expected an API error, got {other:?}"),
    };
    let e = lb.client.backend("nope").await.unwrap_err();
    assert_eq!(
        e.to_string(),
        "no backend named \"nope\"; `lb status` lists them"
    );
    check(e, 404, "unknown_backend");
    check(
        lb.client.flows(Some("nope"), None, None).await.unwrap_err(),
        404,
        "unknown_backend",
    );
    for timeout in ["soon", "18446744073709551615s", "-1s", "NaNs", "721h"] {
        let bad = DrainRequest {
            timeout: Some(timeout.to_owned()),
            no_signal: false,
        };
        check(
            lb.client.drain("web-1", &bad).await.unwrap_err(),
            400,
            "bad_request",
        );
    }
    let first = lb
        .client
        .drain("web-2", &DrainRequest::default())
        .await
        .unwrap();
    // The same drain again changes nothing (and runs no action twice).
    let again = lb
        .client
        .drain("web-2", &DrainRequest::default())
        .await
        .unwrap();
    assert_eq!(
        first.drain.unwrap().started_at,
        again.drain.unwrap().started_at
    );
    lb.client.disable("web-1").await.unwrap();
    check(
        lb.client
            .drain("web-1", &DrainRequest::default())
            .await
            .unwrap_err(),
        409,
        "conflict",
    );
    // A name that is not a plain path segment still reaches the daemon whole.
    check(
        lb.client.backend("a/b c").await.unwrap_err(),
        404,
        "unknown_backend",
    );
    lb.stop().await.unwrap();
}

#[tokio::test]
async fn raw_requests_get_json_errors() {
    let lb = start("raw").await;
    let error = |body: &str| serde_json::from_str::<ErrorBody>(body).unwrap();

    let (status, body) = raw(&lb.socket, &get("/v2/nothing")).await;
    assert_eq!((status, error(&body).code.as_str()), (404, "not_found"));
    let (status, body) = raw(&lb.socket, &post("/v1/backends/web-1/drain", "{not json")).await;
    assert_eq!((status, error(&body).code.as_str()), (400, "bad_request"));
    let (status, body) = raw(&lb.socket, &get("/v1/reload")).await;
    assert_eq!(
        (status, error(&body).code.as_str()),
        (405, "method_not_allowed")
    );
    // Unknown fields are refused, by name.
    let (status, body) = raw(
        &lb.socket,
        &post(
            "/v1/backends/web-1/drain",
            r#"{"timeout": "1s", "force": true}"#,
        ),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        error(&body).error.contains("unknown field `force`"),
        "{body}"
    );
    let (status, body) = raw(&lb.socket, &get("/v1/flows?backend=web-1&colour=red")).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("colour"), "{body}");
    let (status, body) = raw(&lb.socket, &get("/v1/flows?after=nonsense")).await;
    assert_eq!((status, error(&body).code.as_str()), (400, "bad_request"));

    // `curl -X POST` with no body drains with the defaults.
    let (status, body) = raw(&lb.socket, &post("/v1/backends/web-1/drain", "")).await;
    assert_eq!(status, 200, "{body}");
    let backend: BackendStatus = serde_json::from_str(&body).unwrap();
    assert_eq!(backend.drain.unwrap().signal, SignalState::Skipped);
    let (status, body) = raw(&lb.socket, &get("/metrics")).await;
    assert_eq!(status, 200);
    assert!(body.contains("# TYPE lb_backend_state gauge"));
    lb.stop().await.unwrap();
}

#[tokio::test]
async fn socket_is_private_and_removed_on_exit() {
    let lb = start("mode").await;
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&lb.socket), 0o600);
    assert_eq!(mode(lb.socket.parent().unwrap()), 0o755);
    let socket = lb.socket.clone();
    lb.stop().await.unwrap();
    assert!(!socket.exists());
}

#[tokio::test]
async fn stale_socket_is_replaced_but_live_one_is_not() {
    let socket = temp_socket("stale");
    std::fs::create_dir_all(socket.parent().unwrap()).unwrap();
    // A socket file nobody listens on, as a killed daemon leaves it.
    drop(std::os::unix::net::UnixListener::bind(&socket).unwrap());
    let e = Client::new(&socket).get_status().await.unwrap_err();
    assert!(matches!(e, ClientError::NotRunning { .. }), "{e:?}");

    let lb = start_at(socket.clone()).await;
    lb.client.get_status().await.unwrap();

    let second = start_at(socket.clone()).await;
    let e = second.task.await.unwrap().unwrap_err();
    let expected = format!("another lb daemon is listening on {}", socket.display());
    assert!(format!("{e:#}").contains(&expected), "{e:#}");
    // The first daemon is untouched.
    lb.client.get_status().await.unwrap();
    lb.stop().await.unwrap();
}

#[tokio::test]
async fn refuses_to_replace_a_file_that_is_not_a_socket() {
    let socket = temp_socket("file");
    std::fs::create_dir_all(socket.parent().unwrap()).unwrap();
    std::fs::write(&socket, "precious").unwrap();
    let lb = start_at(socket.clone()).await;
    let e = lb.task.await.unwrap().unwrap_err();
    assert!(e.to_string().contains("is not a socket"), "{e:#}");
    assert_eq!(std::fs::read_to_string(&socket).unwrap(), "precious");
    std::fs::remove_dir_all(socket.parent().unwrap()).unwrap();
}

#[tokio::test]
async fn no_daemon_is_not_running() {
    let socket = temp_socket("absent");
    let e = Client::new(&socket).get_status().await.unwrap_err();
    assert!(matches!(e, ClientError::NotRunning { .. }), "{e:?}");
    let expected = format!(
        "cannot reach the lb daemon at {}: no such socket (is `lb daemon` running? use --socket PATH)",
        socket.display()
    );
    assert_eq!(e.to_string(), expected);
}

#[tokio::test]
async fn the_read_only_socket_serves_reads_and_refuses_changes() {
    let socket = temp_socket("read-only");
    let dir = socket.parent().unwrap().to_owned();
    std::fs::create_dir_all(&dir).unwrap();
    let config_path = dir.join("lb.toml");
    std::fs::write(&config_path, CONFIG).unwrap();
    let core = crate::daemon::start_core(state(CONFIG), None, config_path, stuck_flows());
    let listener = super::server::bind(&socket, super::server::MODE_READ_ONLY, None)
        .await
        .unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let path = socket.clone();
    let task = tokio::spawn(async move {
        let shutdown = async move {
            let _ = stopped.await;
        };
        super::server::serve_on(
            listener,
            &path,
            Arc::new(core.handle),
            super::guard::Access::ReadOnly,
            shutdown,
        )
        .await
    });
    let mode = std::fs::metadata(&socket).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o660);
    let client = Client::new(&socket);
    assert_eq!(client.get_status().await.unwrap().vips.len(), 1);
    assert_eq!(client.backend("web-2").await.unwrap().state, "active");
    client.flows(None, None, None).await.unwrap();
    for e in [
        client
            .drain("web-2", &DrainRequest::default())
            .await
            .unwrap_err(),
        client.disable("web-1").await.unwrap_err(),
        client.reload().await.unwrap_err(),
        client.teardown().await.unwrap_err(),
    ] {
        match e {
            ClientError::Api { status, body } => {
                assert_eq!((status, body.code.as_str()), (403, "read_only"));
            }
            other => panic!("expected 403, got {other:?}"),
        }
    }
    // Nothing changed.
    assert_eq!(client.backend("web-2").await.unwrap().state, "active");
    let _ = stop.send(());
    task.await.unwrap().unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}
