//! The checks that several sections of the file share (names, addresses,
//! counts, durations), each naming the key it refuses. They know nothing of
//! the sections: every section's checker builds on them.

use std::{net::IpAddr, time::Duration};

use super::{error::Problem, locate::KeyPath};

/// What a check returns: the value, or the problem with its key path.
pub(super) type Checked<T> = Result<T, Problem>;

/// Longest name accepted (names appear in metrics labels and CLI output).
pub const MAX_NAME_LEN: usize = 64;

/// A name the CLI can take as an argument: `[A-Za-z0-9._-]{1,64}`.
pub(super) fn check_name(name: &str, at: &KeyPath) -> Checked<()> {
    let ok = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if name.is_empty() || name.len() > MAX_NAME_LEN || !name.chars().all(ok) {
        return Err(Problem::new(
            at.clone(),
            format!(
                "expected a name of 1 to {MAX_NAME_LEN} characters from A-Z a-z 0-9 . _ -, got {name:?}"
            ),
        ));
    }
    Ok(())
}

/// Addresses that can be a VIP or a backend: the data plane stores IPv4 as
/// IPv4-mapped IPv6, so a mapped address written as IPv6 would alias an IPv4 one.
pub(super) fn check_address(addr: IpAddr, at: &KeyPath) -> Checked<()> {
    let why = match addr {
        a if a.is_unspecified() => "the unspecified address",
        a if a.is_multicast() => "a multicast address",
        IpAddr::V4(a) if a.is_broadcast() => "the broadcast address",
        IpAddr::V6(a) if a.to_ipv4_mapped().is_some() => {
            "an IPv4-mapped IPv6 address (write the IPv4 address)"
        }
        _ => return Ok(()),
    };
    Err(Problem::new(
        at.clone(),
        format!("expected a unicast IP address, got {addr} ({why})"),
    ))
}

/// An optional duration: `default` when the key is absent; zero refused.
pub(super) fn nonzero(v: Option<Duration>, default: Duration, at: &KeyPath) -> Checked<Duration> {
    match v {
        Some(Duration::ZERO) => Err(Problem::new(
            at.clone(),
            "expected a duration > 0, got \"0s\"",
        )),
        Some(d) => Ok(d),
        None => Ok(default),
    }
}

/// An optional count: `default` when the key is absent; zero refused.
pub(super) fn at_least_one(v: Option<u32>, default: u32, at: &KeyPath) -> Checked<u32> {
    match v {
        Some(0) => Err(Problem::new(at.clone(), "expected at least 1, got 0")),
        Some(n) => Ok(n),
        None => Ok(default),
    }
}
