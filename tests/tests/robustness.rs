//! 100,000 random and mutated frames through the program with VIPs and
//! backends configured (one DRAINING behind a second-chance table, one DOWN).
//! Per frame: the verdict is PASS, DROP or TX, never ABORTED or anything
//! else; PASS and DROP leave the frame untouched; TX changes only the 12 MAC
//! bytes and addresses a configured backend. Afterwards every verdict is
//! counted exactly once and every flow entry is sane.
//!
//! The seed is printed; rerun one with `LB_FUZZ_SEED=<seed>` (and change the
//! count with `LB_FUZZ_FRAMES`).
//!
//! Kernel fact (net/bpf/test_run.c, `bpf_test_init`): an XDP test run of fewer
//! than 14 bytes (ETH_HLEN) fails with EINVAL before the program runs. Those
//! frames are counted as "rejected" and not towards the 100,000.

use std::{
    collections::HashSet,
    net::IpAddr,
    time::{Instant, SystemTime, UNIX_EPOCH},
};

use lb_common::{
    addr::from_ip,
    backend::{STATE_DOWN, STATE_DRAINING, STATE_EMPTY},
    flow::FlowInfo,
    vip::{PROTO_TCP, PROTO_UDP},
};
use lb_tests::{
    counters::Field,
    dataplane::{XDP_DROP, XDP_PASS, XDP_TX, backend_mac, errno, verdict_name},
    fuzz::{self, KINDS},
    rng::Rng,
    standard::{self, VIP_TCP4, VIP4, VIP4_EMPTY, VIP6},
    table::key,
};

/// Frames that reach the program; `LB_FUZZ_FRAMES` overrides.
fn frames() -> u64 {
    std::env::var("LB_FUZZ_FRAMES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000)
}

#[derive(Default)]
struct Tally {
    pass: u64,
    drop: u64,
    tx: u64,
    rejected: u64,
    tx_bytes: u64,
    by_kind: [[u64; 3]; KINDS.len()],
}

#[test]
fn fuzzed_frames_get_sane_verdicts_and_leave_sane_maps() {
    let seed = std::env::var("LB_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
        });
    println!("fuzz seed {seed} (LB_FUZZ_SEED={seed} replays this run)");
    let mut rng = Rng::new(seed);

    let mut dp = standard::dataplane().expect("loading the program (root needed)");
    // Backend 3 drains: live table [1, 2], and the fuzzer's frequent 5-tuples
    // recorded as its connections in DRAIN_FLOWS. Backend 5 is DOWN and in no
    // table: nothing may ever be sent to it.
    dp.set_backend(3, STATE_DRAINING).unwrap();
    dp.publish(VIP_TCP4, &[1, 2]).unwrap();
    dp.set_backend(5, STATE_DOWN).unwrap();
    for host in 1..=16u8 {
        for port in 40000..=40003u16 {
            let src = IpAddr::from([192, 0, 2, host]);
            dp.drain_flow(&key(src, VIP4, port, 80, PROTO_TCP), 3)
                .unwrap();
        }
    }
    // Flows the fuzzer's frequent 5-tuples will hit, pinned to the DOWN backend:
    // their packets must be re-picked, never sent to it.
    let pinned_to_down = FlowInfo {
        backend_id: 5,
        flags: 0,
        created_ns: 1,
        last_seen_ns: 1,
        ..FlowInfo::default()
    };
    for host in 1..=16u8 {
        for port in 40000..=40003u16 {
            let src = IpAddr::from([192, 0, 2, host]);
            dp.insert_flow(&key(src, VIP4, port, 80, PROTO_TCP), &pinned_to_down)
                .unwrap();
        }
    }
    let macs: Vec<[u8; 6]> = (1..=4).map(backend_mac).collect();

    let total = frames();
    let start = Instant::now();
    let mut t = Tally::default();
    while t.pass + t.drop + t.tx < total {
        let (kind, input) = fuzz::frame(&mut rng);
        let run = match dp.try_run(&input) {
            Ok(run) => run,
            Err(e) if input.len() < 14 && errno(&e) == Some(libc::EINVAL) => {
                t.rejected += 1;
                continue;
            }
            Err(e) => panic!("test run failed for {kind:?} frame {input:02x?}: {e}"),
        };
        let out = &run.output;
        let column = match run.verdict {
            XDP_PASS | XDP_DROP => {
                assert_eq!(
                    out,
                    &input,
                    "{} modified a {kind:?} frame",
                    verdict_name(run.verdict)
                );
                if run.verdict == XDP_PASS {
                    t.pass += 1;
                    0
                } else {
                    t.drop += 1;
                    1
                }
            }
            XDP_TX => {
                assert_eq!(
                    out.len(),
                    input.len(),
                    "TX changed the length: {input:02x?}"
                );
                assert_eq!(
                    out[12..],
                    input[12..],
                    "TX changed more than MACs: {input:02x?}"
                );
                assert_eq!(
                    out[6..12],
                    input[0..6],
                    "TX source MAC is not the input's dst"
                );
                assert!(
                    macs.iter().any(|m| out[0..6] == m[..]),
                    "TX to an unknown MAC {:02x?}: {input:02x?}",
                    &out[0..6]
                );
                t.tx += 1;
                t.tx_bytes += input.len() as u64;
                2
            }
            other => panic!("{} for {kind:?} frame {input:02x?}", verdict_name(other)),
        };
        let k = KINDS.iter().position(|x| *x == kind).unwrap();
        t.by_kind[k][column] += 1;
    }
    let elapsed = start.elapsed();

    println!(
        "{total} fuzzed packets: pass {}, drop {}, tx {} ({} more under 14 bytes rejected \
         by the kernel with EINVAL) in {:.1} s",
        t.pass,
        t.drop,
        t.tx,
        t.rejected,
        elapsed.as_secs_f64()
    );
    for (kind, [p, d, x]) in KINDS.iter().zip(t.by_kind) {
        println!("  {kind:?}: pass {p}, drop {d}, tx {x}");
    }
    assert!(
        t.by_kind.iter().all(|c| c.iter().sum::<u64>() > 0),
        "every kind of frame was generated"
    );
    assert!(
        t.tx > 0 && t.drop > 0 && t.pass > 0,
        "every verdict was seen"
    );

    // Every verdict is counted exactly once, where the program says it counts it.
    let c = dp.counters().unwrap();
    assert_eq!(c.global.packets, t.pass, "GLOBAL packets = passes");
    assert_eq!(c.vip_total(Field::Packets), t.tx, "VIP packets = TX");
    assert_eq!(
        c.vip_total(Field::Bytes),
        t.tx_bytes,
        "VIP bytes = TX bytes"
    );
    let backend_packets: u64 = c.backends.iter().map(|b| b.packets).sum();
    assert_eq!(backend_packets, t.tx, "backend packets = TX");
    let drops = c.vip_total(Field::DropMalformed)
        + c.vip_total(Field::DropFragment)
        + c.vip_total(Field::DropNoBackend);
    assert_eq!(drops, t.drop, "VIP drop counters = DROP");
    assert_eq!(c.backends[5].packets, 0, "the DOWN backend got nothing");
    println!(
        "counters: global packets {} (malformed {}); VIP new flows {}, closed {}, second \
         chance {}, repicked {}; drops: malformed {}, fragment {}, no backend {}",
        c.global.packets,
        c.global.drop_malformed,
        c.vip_total(Field::NewFlows),
        c.vip_total(Field::ClosedFlows),
        c.vip_total(Field::SecondChance),
        c.vip_total(Field::Repicked),
        c.vip_total(Field::DropMalformed),
        c.vip_total(Field::DropFragment),
        c.vip_total(Field::DropNoBackend),
    );

    // Every flow entry is for a VIP and names a configured, non-DOWN backend.
    let vips: HashSet<([u8; 16], u16, u8)> = [
        (from_ip(VIP4), 80, PROTO_TCP),
        (from_ip(VIP4), 53, PROTO_UDP),
        (from_ip(VIP6), 443, PROTO_TCP),
        (from_ip(VIP6), 53, PROTO_UDP),
        (from_ip(VIP4_EMPTY), 80, PROTO_TCP),
    ]
    .into();
    let flows = dp.flows().unwrap();
    let mut untouched = 0;
    for (key, info) in &flows {
        assert!(
            vips.contains(&(key.dst, key.dport(), key.proto)),
            "flow for a non-VIP: {key:?}"
        );
        let backend = dp
            .backend(info.backend_id)
            .expect("backend id within BACKENDS");
        assert_ne!(
            backend.state, STATE_EMPTY,
            "flow {key:?} names an empty slot"
        );
        if backend.state == STATE_DOWN {
            assert_eq!(
                info.last_seen_ns, 1,
                "flow {key:?} names the DOWN backend yet saw packets"
            );
            untouched += 1;
        }
        assert_eq!(key._pad, [0; 3], "key padding is zero");
    }
    println!(
        "{} flow entries, all sane ({untouched} of the 64 pinned to the DOWN backend never \
         got a packet)",
        flows.len()
    );
}
