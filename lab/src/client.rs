//! One bounded HTTP request from a namespace (curl via `ip netns exec`),
//! returning status, body and timing; also in the background, for requests
//! that must be in flight while something else happens (`/slow`, `/stream`
//! during a drain). Transport failures are results, not errors: a test wants
//! to see "connection reset" as data.

use std::{
    io::Write as _,
    process::{Command, Stdio},
    thread::{self, JoinHandle},
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result, anyhow};

use crate::netns::Netns;

/// What to send.
#[derive(Clone, Debug)]
pub struct Request {
    pub method: String,
    pub url: String,
    pub body: Option<Vec<u8>>,
    /// Extra headers, "Name: value".
    pub headers: Vec<String>,
    /// Whole-request limit (curl --max-time); the process is also killed a
    /// little after it.
    pub timeout: Duration,
}

impl Request {
    pub fn get(url: impl Into<String>) -> Request {
        Request {
            method: "GET".into(),
            url: url.into(),
            body: None,
            headers: Vec::new(),
            timeout: Duration::from_secs(10),
        }
    }

    pub fn post(url: impl Into<String>, body: impl Into<Vec<u8>>) -> Request {
        Request {
            method: "POST".into(),
            body: Some(body.into()),
            ..Request::get(url)
        }
    }

    pub fn delete(url: impl Into<String>) -> Request {
        Request {
            method: "DELETE".into(),
            ..Request::get(url)
        }
    }

    pub fn timeout(mut self, t: Duration) -> Request {
        self.timeout = t;
        self
    }

    pub fn header(mut self, h: impl Into<String>) -> Request {
        self.headers.push(h.into());
        self
    }
}

/// What came back.
#[derive(Clone, Debug)]
pub struct Response {
    /// The HTTP status, None if no response arrived.
    pub status: Option<u16>,
    pub body: String,
    /// curl's exit code: 0 ok, 7 refused, 28 timeout, 52 empty reply,
    /// 56 reset, ...
    pub curl_exit: i32,
    /// curl's error message, empty when none.
    pub error: String,
    /// Unix time (s) the request was started.
    pub started_at: f64,
    /// Wall time of the whole request.
    pub elapsed: Duration,
    /// Seconds from start to TCP connected / to the first response byte.
    pub time_connect: Option<f64>,
    pub time_starttransfer: Option<f64>,
    /// Seconds curl's transfer took by its own clock: `started_at` plus this
    /// is no later than the moment the response was complete, whereas
    /// `elapsed` also holds the process's start and the harness noticing
    /// its exit, which a loaded machine can make late.
    pub time_total: Option<f64>,
}

impl Response {
    /// Unix time (s) by which the response was complete, at the latest
    /// what curl's own clock says.
    pub fn completed_by(&self) -> f64 {
        self.started_at + self.time_total.unwrap_or(self.elapsed.as_secs_f64())
    }
}

impl Response {
    /// A complete 2xx response.
    pub fn ok(&self) -> bool {
        self.curl_exit == 0 && self.status.is_some_and(|s| (200..300).contains(&s))
    }
}

/// Separates the body from curl's `-w` figures.
const MARK: &str = "\n@@lb-lab@@";

/// Sends `req` from inside `ns`. Errs only if curl could not be run.
pub fn send(ns: &Netns, req: &Request) -> Result<Response> {
    send_in(ns.name(), req)
}

fn send_in(ns: &str, req: &Request) -> Result<Response> {
    let max = req.timeout.as_secs_f64();
    let mut cmd = Command::new("ip");
    cmd.args([
        "netns",
        "exec",
        ns,
        "timeout",
        "-k",
        "2",
        &format!("{:.3}", max + 5.0),
    ]);
    cmd.args(["curl", "-sS", "-g", "-o", "-", "-X", &req.method]);
    cmd.args(["--max-time", &format!("{max:.3}")]);
    cmd.args([
        "-w",
        &format!("{MARK} %{{http_code}} %{{time_connect}} %{{time_starttransfer}} %{{time_total}}"),
    ]);
    for h in &req.headers {
        cmd.args(["-H", h]);
    }
    if req.body.is_some() {
        cmd.args([
            "--data-binary",
            "@-",
            "-H",
            "Content-Type: application/octet-stream",
        ]);
    }
    cmd.arg(&req.url);
    cmd.stdin(if req.body.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    });
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());

    let started_at = unix_time();
    let start = Instant::now();
    let mut child = cmd.spawn().with_context(|| format!("running {cmd:?}"))?;
    // Feed the body from a thread so a large body cannot deadlock against
    // curl's output.
    let feeder = match (child.stdin.take(), req.body.clone()) {
        (Some(mut stdin), Some(body)) => Some(thread::spawn(move || {
            let _ = stdin.write_all(&body);
        })),
        _ => None,
    };
    let out = child.wait_with_output().context("waiting for curl")?;
    let elapsed = start.elapsed();
    if let Some(f) = feeder {
        let _ = f.join();
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let (body, figures) = stdout.rsplit_once(MARK).unwrap_or((&stdout, ""));
    let mut f = figures.split_whitespace();
    let status = f
        .next()
        .and_then(|s| s.parse::<u16>().ok())
        .filter(|s| *s != 0);
    let time_connect = f.next().and_then(|s| s.parse().ok());
    let time_starttransfer = f.next().and_then(|s| s.parse().ok());
    let time_total = f.next().and_then(|s| s.parse().ok());
    Ok(Response {
        status,
        body: body.to_owned(),
        curl_exit: out.status.code().unwrap_or(-1),
        error: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        started_at,
        elapsed,
        time_connect,
        time_starttransfer,
        time_total,
    })
}

/// A request running in the background.
pub struct InFlight {
    handle: JoinHandle<Result<Response>>,
}

/// Starts `req` from inside `ns` in the background.
pub fn spawn(ns: &Netns, req: Request) -> InFlight {
    let ns = ns.name().to_owned();
    InFlight {
        handle: thread::spawn(move || send_in(&ns, &req)),
    }
}

impl InFlight {
    /// Waits for it (bounded by the request's own timeout).
    pub fn join(self) -> Result<Response> {
        self.handle
            .join()
            .map_err(|_| anyhow!("request thread panicked"))?
    }

    pub fn is_finished(&self) -> bool {
        self.handle.is_finished()
    }
}

/// Now, in unix seconds (the clock of the access and events logs).
pub fn unix_time() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}
