//! A restarted daemon's starting truth: what the pinned `BACKENDS` map holds.
//!
//! The data plane kept forwarding while no daemon ran, with the MACs and
//! states the previous daemon wrote. A new daemon that started from scratch
//! (MACs from the neighbour table only, health "unknown") would rewrite them
//! at its first sync: a backend whose neighbour entry expired would go DOWN
//! and its flows move for good; an unhealthy one would take new flows again
//! before a single check passed. So an adopted backend starts from its pinned
//! MAC and its pinned health, and the first sync changes nothing until a
//! health check or the operator says otherwise.

use std::collections::BTreeMap;

use lb_common::{
    addr::from_ip,
    backend::{Backend, STATE_ACTIVE, STATE_DOWN, STATE_UNHEALTHY},
};

use super::{
    model::{Health, Model},
    sync::Synced,
};

/// What was taken from the pins, for the log.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Seeded {
    /// Backends whose MAC came from the pinned map (none configured, none
    /// resolved yet).
    pub macs: Vec<String>,
    /// Backends whose health starts from the pinned state, with that health.
    pub health: Vec<(String, Health)>,
}

/// Seeds `model` from what an adopted data plane holds, and says so in the log.
pub fn start_from_pins(model: &mut Model, synced: &Synced) {
    let seeded = seed_from_pins(model, synced.backends());
    if seeded != Seeded::default() {
        tracing::info!(
            macs_from_pins = ?seeded.macs,
            health_from_pins = ?seeded.health,
            "adopted backends start from the pinned MACs and states"
        );
    }
}

/// Fills in, for every backend of `model` that the pins know at the same id
/// and address, the MAC the data plane forwards with (unless the config sets
/// one) and the health its pinned state says it had.
pub fn seed_from_pins(model: &mut Model, pinned: &BTreeMap<u32, Backend>) -> Seeded {
    let mut seeded = Seeded::default();
    for b in model.backends.values_mut() {
        let Some(p) = pinned.get(&b.id) else {
            continue;
        };
        // Same slot, another backend (the config changed while no daemon ran).
        if p.addr != from_ip(b.cfg.address) {
            continue;
        }
        if b.mac.is_none() && p.mac != [0; 6] {
            b.mac = Some(p.mac);
            seeded.macs.push(b.cfg.name.clone());
        }
        if b.cfg.health.is_none() || b.health != Health::Unknown {
            continue;
        }
        let health = match p.state {
            STATE_ACTIVE => Health::Healthy,
            STATE_UNHEALTHY => Health::Unhealthy,
            // Written by a daemon from before UNHEALTHY existed, for a backend
            // with a MAC that nobody disabled: it was failing its checks.
            STATE_DOWN if p.mac != [0; 6] && !b.disabled => Health::Unhealthy,
            // Draining or drained: health does not decide its state; the
            // checks give a verdict soon enough.
            _ => continue,
        };
        b.health = health;
        seeded.health.push((b.cfg.name.clone(), health));
    }
    seeded
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use lb_common::backend::{STATE_DRAINING, STATE_EMPTY};

    use super::*;
    use crate::{config, daemon::persist::Persisted};

    const CONFIG: &str = r#"
[daemon]
interface = "eth0"

[[vip]]
name = "web"
address = "198.51.100.10"
port = 80
protocol = "tcp"

[[vip.backend]]
name = "web-1"
address = "198.51.100.11"
health = { kind = "tcp" }

[[vip.backend]]
name = "web-2"
address = "198.51.100.12"
health = { kind = "tcp" }

[[vip.backend]]
name = "web-3"
address = "198.51.100.13"
mac = "02:00:00:00:00:33"
"#;

    fn model() -> Model {
        let config = config::parse(CONFIG, Path::new("test.toml")).expect("valid config");
        Model::new(config, Persisted::default(), 8, 16, BTreeMap::new()).expect("ids fit")
    }

    fn pinned_as(model: &Model, name: &str, mac: u8, state: u8) -> (u32, Backend) {
        let b = &model.backends[name];
        let entry = Backend {
            addr: from_ip(b.cfg.address),
            mac: [2, 0, 0, 0, 0, mac],
            state,
            forward: lb_common::nat::FORWARD_DSR,
            weight: 1,
            port_be: 0,
            _pad: [0; 2],
        };
        (b.id, entry)
    }

    #[test]
    fn pinned_macs_and_states_are_the_starting_truth() {
        let mut m = model();
        let pinned: BTreeMap<u32, Backend> = [
            pinned_as(&m, "web-1", 0x11, STATE_ACTIVE),
            pinned_as(&m, "web-2", 0x22, STATE_UNHEALTHY),
            pinned_as(&m, "web-3", 0x99, STATE_ACTIVE),
        ]
        .into();
        let seeded = seed_from_pins(&mut m, &pinned);
        let b = &m.backends;
        assert_eq!(b["web-1"].mac, Some([2, 0, 0, 0, 0, 0x11]));
        assert_eq!(b["web-1"].health, Health::Healthy);
        assert_eq!(b["web-1"].kernel_state(), STATE_ACTIVE);
        assert_eq!(b["web-2"].health, Health::Unhealthy);
        assert_eq!(
            b["web-2"].kernel_state(),
            STATE_UNHEALTHY,
            "unhealthy stays unhealthy until `rise` checks pass"
        );
        // The config's MAC wins; no health check, no health to seed.
        assert_eq!(b["web-3"].mac, Some([2, 0, 0, 0, 0, 0x33]));
        assert_eq!(b["web-3"].health, Health::Unchecked);
        assert_eq!(seeded.macs, ["web-1", "web-2"]);
        assert_eq!(
            seeded.health,
            [
                ("web-1".to_string(), Health::Healthy),
                ("web-2".to_string(), Health::Unhealthy)
            ]
        );
        // Seeding is what the data plane already holds: the first sync
        // writes the same entries back.
        for name in ["web-1", "web-2"] {
            let e = &b[name];
            assert_eq!(e.kernel_state(), pinned[&e.id].state, "{name}");
            assert_eq!(e.mac, Some(pinned[&e.id].mac), "{name}");
        }
    }

    #[test]
    fn other_slots_old_down_and_draining_entries() {
        let mut m = model();
        let (id1, mut moved) = pinned_as(&m, "web-1", 0x11, STATE_ACTIVE);
        moved.addr = from_ip("198.51.100.99".parse().unwrap());
        let pinned: BTreeMap<u32, Backend> =
            [(id1, moved), pinned_as(&m, "web-2", 0x22, STATE_DOWN)].into();
        seed_from_pins(&mut m, &pinned);
        assert_eq!(m.backends["web-1"].mac, None, "another address in the slot");
        assert_eq!(m.backends["web-1"].health, Health::Unknown);
        assert_eq!(
            m.backends["web-2"].health,
            Health::Unhealthy,
            "an older daemon wrote DOWN for a failing backend"
        );

        let mut m = model();
        let (id2, mut no_mac) = pinned_as(&m, "web-2", 0, STATE_EMPTY);
        no_mac.mac = [0; 6];
        let pinned: BTreeMap<u32, Backend> =
            [pinned_as(&m, "web-1", 0x11, STATE_DRAINING), (id2, no_mac)].into();
        seed_from_pins(&mut m, &pinned);
        assert_eq!(m.backends["web-1"].health, Health::Unknown);
        assert_eq!(m.backends["web-1"].mac, Some([2, 0, 0, 0, 0, 0x11]));
        assert_eq!(m.backends["web-2"].mac, None, "an all-zero MAC is no MAC");
    }
}
