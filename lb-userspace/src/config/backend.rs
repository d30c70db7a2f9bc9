//! One `[[vip.backend]]`: its address against its VIP's, weight, health check
//! and actions.

use super::{
    action::action,
    check::{Checked, at_least_one, check_address, check_name, nonzero},
    error::Problem,
    locate::KeyPath,
    model::{
        BackendConfig, DEFAULT_DRAIN_TIMEOUT, DEFAULT_HEALTH_FALL, DEFAULT_HEALTH_INTERVAL,
        DEFAULT_HEALTH_PATH, DEFAULT_HEALTH_RISE, DEFAULT_HEALTH_TIMEOUT, DEFAULT_SIGNAL_DELAY,
        DEFAULT_WEIGHT, HealthConfig, HealthKind, MAX_WEIGHT, VipConfig,
    },
    raw::{RawBackend, RawHealth},
};

pub(super) fn backend(raw: RawBackend, vip: &VipConfig, at: &KeyPath) -> Checked<BackendConfig> {
    check_name(&raw.name, &at.key("name"))?;
    check_address(raw.address, &at.key("address"))?;
    // L2 DSR forwards the packet unchanged: the backend must speak the VIP's family.
    if raw.address.is_ipv4() != vip.address.is_ipv4() {
        let family = if vip.address.is_ipv4() {
            "IPv4"
        } else {
            "IPv6"
        };
        return Err(Problem::new(
            at.key("address"),
            format!(
                "expected an {family} address like the VIP's ({}), got \"{}\"",
                vip.address, raw.address
            ),
        ));
    }
    let weight = raw.weight.unwrap_or(DEFAULT_WEIGHT);
    if !(1..=MAX_WEIGHT).contains(&weight) {
        return Err(Problem::new(
            at.key("weight"),
            format!("expected a weight in 1..={MAX_WEIGHT}, got {weight}"),
        ));
    }
    // A zero deadline would cut every in-flight connection: the opposite of a drain.
    let drain_timeout = nonzero(
        raw.drain_timeout.map(|d| d.0),
        DEFAULT_DRAIN_TIMEOUT,
        &at.key("drain_timeout"),
    )?;
    let health = raw
        .health
        .map(|h| health(h, &at.key("health")))
        .transpose()?;
    let shutdown = raw
        .shutdown
        .map(|a| action(a, &at.key("shutdown")))
        .transpose()?;
    let on_drain = raw
        .on_drain
        .map(|a| action(a, &at.key("on_drain")))
        .transpose()?;
    let port = super::nat::backend_port(raw.port, vip.forward, vip.port, &at.key("port"))?;
    super::nat::check_mac(raw.mac.is_some(), vip.forward, &at.key("mac"))?;
    Ok(BackendConfig {
        name: raw.name,
        address: raw.address,
        port,
        mac: raw.mac.map(|m| m.0),
        weight,
        drain_timeout,
        health,
        shutdown,
        shutdown_when: raw.shutdown_when,
        signal_delay: raw.signal_delay.map_or(DEFAULT_SIGNAL_DELAY, |d| d.0),
        on_drain,
    })
}

fn health(raw: RawHealth, at: &KeyPath) -> Checked<HealthConfig> {
    let path = match (raw.kind, raw.path) {
        (HealthKind::Tcp, Some(_)) => {
            return Err(Problem::new(
                at.key("path"),
                "`path` applies only to kind = \"http\"; remove it or set kind = \"http\"",
            ));
        }
        (_, Some(p)) => p,
        (_, None) => DEFAULT_HEALTH_PATH.to_owned(),
    };
    // It goes into the request line as is.
    if !path.starts_with('/') || path.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(Problem::new(
            at.key("path"),
            format!("expected an HTTP path starting with '/' and without spaces, got {path:?}"),
        ));
    }
    if raw.port == Some(0) {
        return Err(Problem::new(
            at.key("port"),
            "expected a port in 1..=65535, got 0",
        ));
    }
    Ok(HealthConfig {
        kind: raw.kind,
        path,
        port: raw.port,
        interval: nonzero(
            raw.interval.map(|d| d.0),
            DEFAULT_HEALTH_INTERVAL,
            &at.key("interval"),
        )?,
        timeout: nonzero(
            raw.timeout.map(|d| d.0),
            DEFAULT_HEALTH_TIMEOUT,
            &at.key("timeout"),
        )?,
        rise: at_least_one(raw.rise, DEFAULT_HEALTH_RISE, &at.key("rise"))?,
        fall: at_least_one(raw.fall, DEFAULT_HEALTH_FALL, &at.key("fall"))?,
        on_unhealthy: raw.on_unhealthy,
    })
}
