//! The Nginx side of part 4: its proxy's config, and the breaks its error
//! log names.

use std::collections::BTreeMap;

use lb_lab::{Lab, nginx};
use serde::{Deserialize, Serialize};

/// The Nginx proxy: the three Gunicorns on port 80 of the LB's address, as
/// people run it: keep-alive to the upstreams, retries left at their
/// defaults (`proxy_next_upstream error timeout`), the error log on.
pub fn nginx_conf(lab: &Lab, down: Option<&str>) -> String {
    let addrs: Vec<(String, bool)> = lab
        .backends()
        .iter()
        .map(|b| (b.ipv4().to_string(), Some(b.name()) == down))
        .collect();
    format!(
        "worker_processes auto;\nevents {{ worker_connections 4096; }}\n\
         http {{\naccess_log off;\n\
         upstream app {{\n{}  keepalive 32;\n}}\n\
         server {{\n listen {}:80 backlog=4096;\n\
         location / {{\n  proxy_pass http://app;\n  proxy_http_version 1.1;\n  \
         proxy_set_header Connection \"\";\n }}\n}}\n}}\n",
        nginx::servers(&addrs, 80),
        lab.lb_host().ipv4
    )
}

/// An error-log line's break; the JSON keys (which the report shows) are the
/// snake_case names, declared in their order (see `RequestKind`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Break {
    BrokenPipe,
    Other,
    PrematureClose,
    Refused,
    Reset,
}

/// Nginx error-log lines since byte `from` that name `upstream`, by kind.
pub fn error_log_breaks(
    path: &std::path::Path,
    from: usize,
    upstream: &str,
) -> BTreeMap<Break, u64> {
    let text = std::fs::read(path).unwrap_or_default();
    let text = String::from_utf8_lossy(text.get(from..).unwrap_or_default());
    let mut out = BTreeMap::new();
    for line in text.lines().filter(|l| l.contains(upstream)) {
        let kind = if line.contains("prematurely closed") {
            Break::PrematureClose
        } else if line.contains("(111: Connection refused)") {
            Break::Refused
        } else if line.contains("(104: Connection reset by peer)") {
            Break::Reset
        } else if line.contains("(32: Broken pipe)") {
            Break::BrokenPipe
        } else if line.contains("[warn]") {
            // "upstream server temporarily disabled" and the like: not a break.
            continue;
        } else {
            Break::Other
        };
        *out.entry(kind).or_default() += 1;
    }
    out
}
