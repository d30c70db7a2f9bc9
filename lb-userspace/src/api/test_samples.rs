//! Status values for tests of what renders them (CLI tables, metrics).

use super::types::*;

pub fn backend(name: &str, address: &str, live: u64) -> BackendStatus {
    BackendStatus {
        name: name.to_owned(),
        vip: "web".to_owned(),
        address: address.to_owned(),
        port: 80,
        mac: Some("02:00:00:00:00:11".to_owned()),
        weight: 1,
        state: "active".to_owned(),
        admin: "enabled".to_owned(),
        health: "healthy".to_owned(),
        live_flows: live,
        counters: Traffic {
            packets: 1000,
            bytes: 64_000,
            new_flows: 10,
            closed_flows: 7,
            second_chance: 1,
            packets_per_s: 1234.5,
            new_flows_per_s: 3.0,
        },
        drain: None,
        last_action: None,
        problem: None,
    }
}

pub fn sample_status(backends: Vec<BackendStatus>) -> Status {
    Status {
        interface: "eth0".to_owned(),
        xdp_mode: "native".to_owned(),
        adopted: false,
        version: "0.1.0".to_owned(),
        program_tag: "0123456789abcdef".to_owned(),
        program_at_start: "loaded".to_owned(),
        previous_program_tag: None,
        uptime_s: 12.5,
        vips: vec![VipStatus {
            name: "web".to_owned(),
            address: "198.51.100.10".to_owned(),
            port: 80,
            protocol: "tcp".to_owned(),
            forward: "dsr".to_owned(),
            counters: Traffic::default(),
            drops: Drops {
                malformed: 1,
                fragment: 2,
                no_backend: 3,
            },
            repicked: 4,
            confirmed: 6,
            unrecorded: 7,
            nat: NatCounters::default(),
            backends,
        }],
        passed_packets: 99,
        passed_malformed: 5,
        nat_sources: Vec::new(),
        nat_untranslated: 0,
    }
}
