//! The fuzzer on the NAT paths: translations are made for a few hundred
//! flows, then random and mutated frames go through the program, half of
//! them backends' replies (to translated ports, to random ports of the
//! range, from random sources), half the robustness test's frames (whose
//! VIPs are NAT VIPs here). Per frame: the verdict is PASS, DROP, TX or
//! REDIRECT; a frame comes out unchanged unless it was translated, and a
//! translated frame keeps its length, goes to a known MAC from one of the
//! namespace's interfaces, and its checksums verify exactly when the input's
//! did (an incremental update carries a wrong checksum along, never mends or
//! breaks one). Afterwards every translation holds a port of the range and
//! a NAT source address.
//!
//! The seed is printed; `LB_FUZZ_SEED=<seed>` replays, `LB_FUZZ_FRAMES` sets
//! the count (default 20,000).

use std::{
    net::IpAddr,
    time::{SystemTime, UNIX_EPOCH},
};

use aya::maps::HashMap;
use lb_common::{
    addr::from_ip,
    maps::{NAT_FWD, NAT_REV},
    nat::{NatForward, NatReply, NatReplyKey},
};
use lb_tests::{
    dataplane::{XDP_DROP, XDP_PASS, XDP_REDIRECT, XDP_TX, backend_mac, errno, verdict_name},
    fuzz,
    nat::{NAT4, NAT6, NatLab, PORT_MAX, PORT_MIN, verify_checksums},
    packet::{ACK, CLIENT_MAC, FIN, Frame, LB_MAC, PSH, RST, SYN},
    rng::Rng,
    standard::{CLIENT4, CLIENT6},
    table::key_of,
};

use super::{NEIGHBOURS, VIPS};

/// A translation the fuzzer made: backend id, backend address and port,
/// NAT address and port, TCP or not.
type Made = (u32, IpAddr, u16, IpAddr, u16, bool);

fn frames() -> u64 {
    std::env::var("LB_FUZZ_FRAMES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20_000)
}

#[test]
fn nat_fuzzed_replies_and_requests_get_sane_verdicts_and_translations() {
    let seed = std::env::var("LB_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
        });
    println!("NAT fuzz seed {seed} (LB_FUZZ_SEED={seed} replays this run)");
    let lab = NatLab::create("natfuzz", &NEIGHBOURS, CLIENT4, CLIENT6)
        .expect("the NAT fuzz namespace (root needed)");
    let name = lab.ns.name().to_owned();
    let tally =
        lb_tests::netns::run_in(&lab.ns, || run(&lab, seed)).expect("running the NAT fuzzer");
    drop(lab);
    assert!(!lb_tests::netns::exists(&name), "{name} was left behind");
    println!("NAT fuzz: {tally:?} (pass, drop, tx, redirect)");
    assert!(
        tally.3 > 0 && tally.0 > 0,
        "both forwarded and passed frames were seen"
    );
}

fn run(lab: &NatLab, seed: u64) -> anyhow::Result<(u64, u64, u64, u64)> {
    let mut rng = Rng::new(seed);
    let mut dp = super::dataplane()?;
    let made = translations(lab, &dp, &mut rng)?;
    let macs: Vec<[u8; 6]> = (1..=7).map(backend_mac).chain([CLIENT_MAC]).collect();
    let ifs = [lab.client_if_mac, lab.backend_if_mac];
    let mut t = (0u64, 0u64, 0u64, 0u64);
    let (mut passed_translated, mut dropped_translated) = (0u64, 0u64);
    let total = frames();
    while t.0 + t.1 + t.2 + t.3 < total {
        let (reply, (kind, input)) = if rng.chance(50) {
            (true, reply(&mut rng, &made))
        } else {
            (false, fuzz::frame(&mut rng))
        };
        let ingress = if reply { lab.backend_if } else { lab.client_if };
        let out = match dp.try_run_on(&input, ingress) {
            Ok(run) => run,
            Err(e) if input.len() < 14 && errno(&e) == Some(libc::EINVAL) => continue,
            Err(e) => panic!("test run failed for {kind:?} frame {input:02x?}: {e}"),
        };
        let what = format!(
            "{} of a {kind:?} frame {input:02x?}",
            verdict_name(out.verdict)
        );
        let changed = out.output != input;
        match out.verdict {
            XDP_PASS | XDP_DROP if !changed => {}
            // Translated, then no neighbour (backend 5, or a client a
            // fuzzed request came from) or no route (backend 6, or such a
            // client): counted, and checked against the counters below.
            XDP_PASS => passed_translated += 1,
            XDP_DROP => dropped_translated += 1,
            XDP_TX | XDP_REDIRECT => {
                assert_eq!(out.output.len(), input.len(), "{what} changed the length");
                assert!(
                    macs.iter().any(|m| out.output[0..6] == m[..]),
                    "{what}: unknown MAC"
                );
                assert!(
                    ifs.iter().any(|m| out.output[6..12] == m[..]),
                    "{what}: foreign source MAC"
                );
                assert_eq!(
                    verify_checksums(&input).is_ok(),
                    verify_checksums(&out.output).is_ok(),
                    "{what}: checksum validity changed"
                );
            }
            _ => panic!("{what}"),
        }
        match out.verdict {
            XDP_PASS => t.0 += 1,
            XDP_DROP => t.1 += 1,
            XDP_TX => t.2 += 1,
            _ => t.3 += 1,
        }
    }
    let c = dp.counters()?;
    let no_neigh: u64 = c.vips.iter().map(|v| v.nat_no_neigh).sum();
    let no_route: u64 = c.vips.iter().map(|v| v.nat_no_route).sum();
    anyhow::ensure!(
        (no_neigh, no_route) == (passed_translated, dropped_translated),
        "translated frames passed/dropped {passed_translated}/{dropped_translated}, \
         counted nat_no_neigh/nat_no_route {no_neigh}/{no_route}"
    );
    println!(
        "{passed_translated} translated frames passed (no neighbour), {dropped_translated} dropped (no route)"
    );
    check_maps(&mut dp)?;
    Ok(t)
}

/// Valid requests from random clients to the four forwarding NAT VIPs;
/// the translations they got, read from the output frames.
fn translations(
    lab: &NatLab,
    dp: &lb_tests::dataplane::Dataplane,
    rng: &mut Rng,
) -> anyhow::Result<Vec<Made>> {
    let mut made = Vec::new();
    for _ in 0..300 {
        let (_, vip, vport, proto, id, b, bport) = *rng.pick(&VIPS[..4]);
        let client = if vip.is_ipv4() { CLIENT4 } else { CLIENT6 };
        let sport = rng.range(1024, 65535) as u16;
        let tcp = proto == lb_common::vip::PROTO_TCP;
        let f = if tcp {
            Frame::tcp(client, vip, sport, vport, SYN)
        } else {
            Frame::udp(client, vip, sport, vport, b"x")
        };
        let run = dp.try_run_on(&f.bytes(), lab.client_if)?;
        anyhow::ensure!(
            run.verdict == XDP_REDIRECT,
            "setup request {:?} not forwarded",
            key_of(&f)
        );
        let at = if vip.is_ipv4() { 34 } else { 54 };
        let nport = u16::from_be_bytes([run.output[at], run.output[at + 1]]);
        let nat = if vip.is_ipv4() { NAT4 } else { NAT6 };
        made.push((id, b, bport, nat, nport, tcp));
    }
    Ok(made)
}

/// A backend's reply: mostly to a translation made, else to a random port of
/// the range or from a random source; then damaged like any fuzzed frame.
fn reply(rng: &mut Rng, made: &[Made]) -> (fuzz::Kind, Vec<u8>) {
    let &(id, mut b, mut bport, nat, mut nport, tcp) = rng.pick(made);
    match rng.below(10) {
        0 => nport = rng.range(PORT_MIN as usize, PORT_MAX as usize + 1) as u16,
        1 => bport = rng.next_u64() as u16,
        2 if b.is_ipv4() => b = IpAddr::from([203, 0, 113, rng.byte()]),
        _ => {}
    }
    let f = if tcp {
        let any = rng.byte();
        let flags = *rng.pick(&[SYN | ACK, ACK, PSH | ACK, FIN | ACK, RST, any]);
        let f = Frame::tcp(b, nat, bport, nport, flags);
        if rng.chance(40) {
            let len = rng.range(1, 64);
            f.payload(&rng.bytes(len))
        } else {
            f
        }
    } else {
        let len = rng.below(48);
        Frame::udp(b, nat, bport, nport, &rng.bytes(len))
    }
    .macs(LB_MAC, backend_mac(id));
    let roll = rng.range(10, 100);
    fuzz::damaged(rng, &f, roll)
}

/// Every translation holds a port of the range and a NAT source address.
fn check_maps(dp: &mut lb_tests::dataplane::Dataplane) -> anyhow::Result<()> {
    let sources = [from_ip(NAT4), from_ip(NAT6)];
    let in_range = |p_be: u16| (PORT_MIN..=PORT_MAX).contains(&u16::from_be(p_be));
    let rev: HashMap<_, NatReplyKey, NatReply> = HashMap::try_from(dp.other_map(NAT_REV)?)?;
    let mut n = 0;
    for entry in &rev {
        let (k, _) = entry?;
        anyhow::ensure!(
            in_range(k.nat_port_be) && sources.contains(&k.nat_addr),
            "bad NAT_REV key {k:?}"
        );
        n += 1;
    }
    let fwd: HashMap<_, lb_common::flow::FlowKey, NatForward> =
        HashMap::try_from(dp.other_map(NAT_FWD)?)?;
    for entry in &fwd {
        let (_, v) = entry?;
        anyhow::ensure!(
            in_range(v.nat_port_be) && sources.contains(&v.nat_addr),
            "bad NAT_FWD value {v:?}"
        );
    }
    println!("{n} translations checked");
    Ok(())
}
