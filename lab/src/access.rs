//! The backends' JSON-lines access log (written by `lab/app/app.py`), read
//! back to prove things like "no connection was accepted after time T".

use std::{collections::HashSet, net::SocketAddr, path::Path};

use anyhow::{Context as _, Result};
use serde::Deserialize;

/// One request as the backend saw it.
#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct AccessEntry {
    /// Unix time (s) the request started in the app.
    pub t: f64,
    /// Unix time (s) it ended (response sent, or the client went away).
    pub t_end: Option<f64>,
    /// `"ip:port"` (IPv6 as `"[ip]:port"`).
    pub client: String,
    /// The connection's id (`"<worker pid>-<n>"`), when Uvicorn exposes it.
    #[serde(default)]
    pub conn: Option<String>,
    /// True on the first request of its connection (with `conn`).
    #[serde(default)]
    pub first: bool,
    /// The worker that served it.
    #[serde(default)]
    pub pid: Option<u32>,
    pub method: String,
    pub path: String,
    /// None when the app never started a response (e.g. the client left).
    pub status: Option<u16>,
}

impl AccessEntry {
    pub fn client_addr(&self) -> Option<SocketAddr> {
        self.client.parse().ok()
    }
}

/// Reads a log; a missing file is an empty log, a torn or foreign line is
/// skipped.
pub fn read(path: &Path) -> Result<Vec<AccessEntry>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let mut v: Vec<AccessEntry> = text
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    // Lines are written when requests end; order them by start.
    v.sort_by(|a, b| a.t.total_cmp(&b.t));
    Ok(v)
}

/// The first request of each connection whose first request started at or
/// after `since` (unix s): the connections the backend accepted then, as far
/// as a request shows. With connection ids this is exact; without, the first
/// line per client ip:port stands for the connection.
pub fn connections_since(entries: &[AccessEntry], since: f64) -> Vec<AccessEntry> {
    let with_ids = entries.iter().any(|e| e.conn.is_some());
    let mut seen = HashSet::new();
    entries
        .iter()
        .filter(|e| {
            if with_ids {
                e.first
            } else {
                // `entries` is sorted by start: the first sighting is the first request.
                seen.insert(e.client.clone())
            }
        })
        .filter(|e| e.t >= since)
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(t: f64, client: &str, conn: Option<&str>, first: bool) -> AccessEntry {
        AccessEntry {
            t,
            t_end: Some(t + 0.001),
            client: client.into(),
            conn: conn.map(Into::into),
            first,
            pid: Some(1),
            method: "GET".into(),
            path: "/".into(),
            status: Some(200),
        }
    }

    #[test]
    fn first_requests_after_t() {
        let e = vec![
            entry(1.0, "198.51.100.1:1000", Some("1-1"), true),
            entry(2.0, "198.51.100.1:1000", Some("1-1"), false),
            entry(3.0, "198.51.100.1:1001", Some("1-2"), true),
            // Port reused by a new connection: still counted thanks to ids.
            entry(4.0, "198.51.100.1:1000", Some("1-3"), true),
        ];
        let c = connections_since(&e, 1.5);
        assert_eq!(c.iter().map(|e| e.t).collect::<Vec<_>>(), vec![3.0, 4.0]);
    }

    #[test]
    fn without_ids_first_line_per_client() {
        let e = vec![
            entry(1.0, "198.51.100.1:1000", None, false),
            entry(2.0, "198.51.100.1:1000", None, false),
            entry(3.0, "[2001:db8:100::1]:1001", None, false),
        ];
        let c = connections_since(&e, 1.5);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].client_addr().unwrap().port(), 1001);
    }

    #[test]
    fn parses_app_lines() {
        let line = r#"{"t":1.5,"client":"198.51.100.1:4242","conn":"7-1","first":true,"pid":7,"method":"GET","path":"/","status":200,"t_end":1.6}"#;
        let e: AccessEntry = serde_json::from_str(line).unwrap();
        assert!(e.first);
        assert_eq!(e.status, Some(200));
    }
}
