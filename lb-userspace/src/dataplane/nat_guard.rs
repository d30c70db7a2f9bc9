//! The NAT guard: an nftables table of the daemon's own (`inet
//! lb_nat_<interface>`) that drops what a NAT backend sends to a NAT source
//! at a port of NAT's range, on the interface the program is attached to.
//!
//! Why: while an XDP program is attached, every such reply with a
//! translation is rewritten in XDP and never reaches netfilter. With no
//! program attached (the interface was deleted and recreated while the
//! daemon was down, until the next daemon attaches again) the replies reach
//! the balancer's own stack, which has no socket on those ports and answers
//! each with a reset: every NAT connection open across the outage died.
//! Dropped instead, the backend retransmits, and the connection carries on
//! once the program is back. The table outlives the daemon on purpose (that
//! window is when no daemon runs); `lb teardown` removes it with the pins.
//!
//! Matching the backends' own address and port (not just the range) keeps
//! the host's listeners on those ports reachable: a backend's replies come
//! from its service port, its own connections from its ephemeral ports.
//! With a program attached, the only packets the rule still sees are
//! replies with no translation (`nat_untranslated`): dropped instead of
//! reset. Each rule counts what it dropped (`nft list table inet
//! lb_nat_<interface>`).

use std::{
    collections::BTreeSet,
    fmt::Write as _,
    io::Write as _,
    net::IpAddr,
    process::{Command, Stdio},
};

use crate::config::Protocol;

/// What the guard's rules are made of; rendered by [`NatGuard::script`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NatGuard {
    pub interface: String,
    /// The NAT source addresses (empty: no NAT VIP, no rule).
    pub sources: Vec<IpAddr>,
    /// NAT's source ports, inclusive.
    pub ports: (u16, u16),
    /// Every NAT backend's (address, port, protocol).
    pub backends: BTreeSet<(IpAddr, u16, Protocol)>,
}

#[derive(Debug, thiserror::Error)]
pub enum GuardError {
    #[error(
        "`nft` not found (Debian package nftables): NAT replies that arrive while no XDP \
         program is attached (the interface recreated while the daemon is down) will reach \
         the kernel, which resets those connections; install nftables"
    )]
    NoNft,
    #[error("interface name {0:?} cannot be written in an nftables rule")]
    Interface(String),
    #[error("nft {what}: {detail}")]
    Nft { what: &'static str, detail: String },
}

/// The table's name for `interface`: one per attached interface, as the
/// pins are; characters nft does not take in a name become `_`.
pub fn table_name(interface: &str) -> String {
    let safe: String = interface
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("lb_nat_{safe}")
}

/// A script that removes the table if it exists (declaring it first makes
/// the delete succeed when it does not), in one transaction.
fn removal(table: &str) -> String {
    format!("table inet {table}\ndelete table inet {table}\n")
}

impl NatGuard {
    /// True when there is nothing to guard (no NAT VIP): the table goes.
    pub fn is_empty(&self) -> bool {
        self.sources.is_empty() || self.backends.is_empty()
    }

    /// The `nft -f` script that makes the table what `self` says, atomically
    /// (the old table goes in the same transaction): just its removal when
    /// there is nothing to guard.
    pub fn script(&self) -> Result<String, GuardError> {
        let table = table_name(&self.interface);
        let mut script = removal(&table);
        let mut rules = String::new();
        for v4 in [true, false] {
            let sources: Vec<String> = self
                .sources
                .iter()
                .filter(|a| a.is_ipv4() == v4)
                .map(ToString::to_string)
                .collect();
            if sources.is_empty() {
                continue;
            }
            for proto in [Protocol::Tcp, Protocol::Udp] {
                let backends: Vec<String> = self
                    .backends
                    .iter()
                    .filter(|(a, _, p)| a.is_ipv4() == v4 && *p == proto)
                    .map(|(a, port, _)| format!("{a} . {port}"))
                    .collect();
                if backends.is_empty() {
                    continue;
                }
                let (ip, l4) = (
                    if v4 { "ip" } else { "ip6" },
                    match proto {
                        Protocol::Tcp => "tcp",
                        Protocol::Udp => "udp",
                    },
                );
                let _ = writeln!(
                    rules,
                    "\t\tiifname \"{iface}\" {ip} daddr {{ {sources} }} {l4} dport {lo}-{hi} \
                     {ip} saddr . {l4} sport {{ {backends} }} counter drop comment \"NAT reply, no \
                     XDP program to translate it\"",
                    iface = self.interface,
                    sources = sources.join(", "),
                    lo = self.ports.0,
                    hi = self.ports.1,
                    backends = backends.join(", "),
                );
            }
        }
        if rules.is_empty() {
            return Ok(script);
        }
        if self.interface.contains(['"', '\\']) {
            return Err(GuardError::Interface(self.interface.clone()));
        }
        // Prerouting at raw priority: before conntrack, so a host that
        // tracks connections keeps no state for them either.
        let _ = write!(
            script,
            "table inet {table} {{\n\tchain nat_replies {{\n\t\ttype filter hook prerouting \
             priority raw; policy accept;\n{rules}\t}}\n}}\n"
        );
        Ok(script)
    }

    /// Installs the table (or removes it when nothing needs guarding), in the
    /// calling process's network namespace.
    pub fn install(&self) -> Result<(), GuardError> {
        run_nft(&self.script()?, "installing the NAT guard table")
    }
}

/// Removes `interface`'s table if it is there (`lb teardown`).
pub fn remove(interface: &str) -> Result<(), GuardError> {
    run_nft(
        &removal(&table_name(interface)),
        "removing the NAT guard table",
    )
}

/// [`remove`] for `lb teardown`, which goes on whatever happens: a failure
/// is logged. Without `nft` no table can have been installed.
pub fn remove_on_teardown(interface: &str) {
    match remove(interface) {
        Ok(()) | Err(GuardError::NoNft) => {}
        Err(e) => tracing::warn!("{e}"),
    }
}

/// Runs `nft -f -` with `script` on its standard input.
fn run_nft(script: &str, what: &'static str) -> Result<(), GuardError> {
    let nft_error = |detail: String| GuardError::Nft { what, detail };
    let mut child = match Command::new("nft")
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(child) => child,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(GuardError::NoNft),
        Err(e) => return Err(nft_error(e.to_string())),
    };
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(script.as_bytes())
            .map_err(|e| nft_error(e.to_string()))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| nft_error(e.to_string()))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(nft_error(
            String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard() -> NatGuard {
        NatGuard {
            interface: "eth0".into(),
            sources: ["203.0.113.2", "2001:db8::2"]
                .iter()
                .map(|a| a.parse().unwrap())
                .collect(),
            ports: (1024, 32767),
            backends: [
                ("203.0.113.11", 8000, Protocol::Tcp),
                ("203.0.113.12", 8000, Protocol::Tcp),
                ("203.0.113.12", 5353, Protocol::Udp),
            ]
            .iter()
            .map(|(a, p, proto)| (a.parse().unwrap(), *p, *proto))
            .collect(),
        }
    }

    #[test]
    fn each_family_and_protocol_with_backends_gets_one_rule() {
        let script = guard().script().unwrap();
        let expected = "table inet lb_nat_eth0\n\
            delete table inet lb_nat_eth0\n\
            table inet lb_nat_eth0 {\n\
            \tchain nat_replies {\n\
            \t\ttype filter hook prerouting priority raw; policy accept;\n\
            \t\tiifname \"eth0\" ip daddr { 203.0.113.2 } tcp dport 1024-32767 ip saddr . tcp \
            sport { 203.0.113.11 . 8000, 203.0.113.12 . 8000 } counter drop comment \"NAT reply, no XDP \
            program to translate it\"\n\
            \t\tiifname \"eth0\" ip daddr { 203.0.113.2 } udp dport 1024-32767 ip saddr . udp \
            sport { 203.0.113.12 . 5353 } counter drop comment \"NAT reply, no XDP program to translate \
            it\"\n\
            \t}\n}\n";
        assert_eq!(script, expected);
        // No IPv6 backend: no IPv6 rule, although there is an IPv6 source.
        assert!(!script.contains("ip6"));
    }

    #[test]
    fn nothing_to_guard_only_removes_the_table() {
        let empty = NatGuard {
            interface: "eth0".into(),
            ..NatGuard::default()
        };
        assert_eq!(
            empty.script().unwrap(),
            "table inet lb_nat_eth0\ndelete table inet lb_nat_eth0\n"
        );
        let no_sources = NatGuard {
            sources: Vec::new(),
            ..guard()
        };
        assert_eq!(no_sources.script().unwrap(), empty.script().unwrap());
    }

    #[test]
    fn the_table_name_is_the_interfaces_and_odd_names_are_refused_in_rules() {
        assert_eq!(table_name("lab-lb"), "lb_nat_lab-lb");
        assert_eq!(table_name("en p0@x"), "lb_nat_en_p0_x");
        let odd = NatGuard {
            interface: "a\"b".into(),
            ..guard()
        };
        assert!(matches!(odd.script(), Err(GuardError::Interface(_))));
    }
}
