//! An upgrade: the daemon is stopped (SIGTERM) and a binary whose XDP program
//! differs (`lb-upgrade`, built by `cargo xtask test` with the
//! `test-upgrade` feature: other instructions, same maps) starts on the same
//! config and pins.

use std::time::Duration;

use lb_lab::paths;

use crate::{
    load::{Load, assert_no_failure},
    streams::{assert_unbroken, open_streams, report},
    support::Rig,
};

/// The new program replaces the old one on the pinned link (its tag
/// changes), the maps and flows are kept: zero failed requests, zero broken
/// streams, on the DSR and the NAT VIP.
#[test]
fn faults_daemon_upgrade_keeps_every_flow() {
    println!("== faults: daemon upgrade to a different XDP program, under load");
    let upgrade = paths::lb_binary("debug").with_file_name("lb-upgrade");
    assert!(
        upgrade.is_file(),
        "{} missing: `cargo xtask test` builds it (lb with --features test-upgrade)",
        upgrade.display()
    );
    let mut rig = Rig::up("flt-upgrade", |_| {});
    let before = rig.status();
    assert_eq!(before["program_at_start"], "loaded", "{before:#}");
    let old_tag = before["program_tag"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert_eq!(old_tag.len(), 16, "a tag: {before:#}");
    let streams = open_streams(&rig, 8, 1);
    let repicked_before = rig.modes.map(|m| rig.repicked(&m));
    let load = Load::start(&rig, 8.0);
    rig.wait_load_on_targets();

    rig.daemon.stop().expect("daemon stops on SIGTERM");
    rig.daemon.set_binary(&upgrade).expect("lb-upgrade");
    rig.daemon.restart().expect("lb-upgrade starts");
    let after = rig
        .daemon
        .wait_ready(Duration::from_secs(30))
        .expect("lb-upgrade answers");
    let new_tag = after["program_tag"].as_str().unwrap_or_default();
    println!(
        "  upgraded: program {} -> {new_tag} ({}), adopted {}",
        old_tag, after["program_at_start"], after["adopted"]
    );
    assert_eq!(after["program_at_start"], "replaced", "{after:#}");
    assert_eq!(after["previous_program_tag"], old_tag.as_str());
    assert_ne!(new_tag, old_tag, "the test-upgrade build's tag differs");
    assert_eq!(after["adopted"], true);

    let results = load.finish();
    let s = streams.finish();
    let moved: Vec<u64> = (0..2)
        .map(|i| rig.repicked(&rig.modes[i]) - repicked_before[i])
        .collect();
    report("upgrade", &results, &s, |m| {
        format!("; flows re-picked {}", moved[usize::from(m.label == "NAT")])
    });
    assert_no_failure(&results);
    assert_unbroken(&s, 1);
    assert_eq!(moved, [0, 0], "no flow moved");

    // Pins whose maps have another layout are refused, with what to do.
    rig.daemon.stop().expect("daemon stops");
    let dir = rig.daemon.pin_root().join(rig.lab.lb_iface());
    let marker = |v: u32| dir.join(format!("layout-v{v}"));
    let current = lb_common::maps::MAPS_LAYOUT_VERSION;
    std::fs::rename(marker(current), marker(current + 1)).expect("marker renamed");
    rig.daemon.restart().expect("spawned");
    let refused = rig
        .daemon
        .wait_ready(Duration::from_secs(30))
        .expect_err("a daemon refuses pins of another layout");
    let message = format!("{refused:#}");
    println!(
        "  pins of layout {} refused: {}",
        current + 1,
        message.lines().last().unwrap_or_default()
    );
    assert!(message.contains("exit status: 1"), "{message}");
    assert!(message.contains("map layout version"), "{message}");
    std::fs::rename(marker(current + 1), marker(current)).expect("marker restored");
    rig.down();
}
