//! `lb check`: the config and what it refers to, checked like `nginx -t`
//! before a start or a reload (the systemd unit's ExecStartPre runs it).

use std::path::Path;

use super::{Exit, Term};
use crate::config::refs::{self, System};

/// Exit 0 with "ok" and a summary, or 2 with the problem (file:line:key).
pub fn run(config: &Path, term: &mut Term<'_>) -> Exit {
    match refs::check(config, &System) {
        Ok((config_read, summary)) => {
            let metrics = config_read
                .daemon
                .metrics
                .map(|m| format!(", metrics on {m}"))
                .unwrap_or_default();
            let nat_vips = config_read
                .vips
                .iter()
                .filter(|v| v.forward == crate::config::Forward::Nat)
                .count();
            let nat = if nat_vips == 0 {
                String::new()
            } else {
                let sources: Vec<String> = config_read
                    .nat
                    .sources
                    .iter()
                    .map(ToString::to_string)
                    .collect();
                format!(
                    " ({nat_vips} by NAT from {}, ports {}-{})",
                    sources.join(", "),
                    config_read.nat.port_min,
                    config_read.nat.port_max
                )
            };
            let dnat_vips = config_read
                .vips
                .iter()
                .filter(|v| v.forward == crate::config::Forward::Dnat)
                .count();
            let dnat = if dnat_vips == 0 {
                String::new()
            } else {
                format!(" ({dnat_vips} by DNAT)")
            };
            let _ = writeln!(
                term.out,
                "ok: {}: interface {}, {} VIP{}{nat}{dnat}, {} backend{}{metrics}",
                config.display(),
                summary.interface,
                summary.vips,
                plural(summary.vips),
                summary.backends,
                plural(summary.backends),
            );
            Exit::Ok
        }
        Err(e) => {
            let _ = writeln!(term.err, "lb: {e}");
            Exit::Usage
        }
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}
