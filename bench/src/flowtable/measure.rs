//! The measurements of part 5: memory of the maps, eviction from a full
//! FLOWS, and the daemon's live-flow accounting over a million flows.

use std::{
    collections::{BTreeMap, HashSet},
    net::IpAddr,
    time::Instant,
};

use anyhow::{Context as _, Result, ensure};
use aya::maps::MapInfo;
use lb_common::{addr::from_ip, flow::FlowKey, vip::PROTO_TCP};
use lb_userspace::{
    daemon::live::{IdleTimeouts, Tracked, count_by_backend, monotonic_ns},
    dataplane::maps::Maps,
};

use super::{
    DRAIN_FLOWS, Drain, Eviction, GROUPS, INSERT_SHARE, LARGE_DRAIN, MapMemory, MapsMemory, Memory,
    ROUNDS, SMALL_DRAIN, TOUCH_EVERY,
};
use crate::{
    clients,
    dataplane::setup::{self, Lb},
    packet::{L4, Spec, TCP_PSH_ACK, TCP_SYN},
    stats::{Summary, round},
    xdp::{self, XDP_TX},
};

/// Fill key `i`: client `i` to the TCP VIP.
fn key(i: u32) -> FlowKey {
    let (addr, port) = clients::v4(i);
    FlowKey::new(
        from_ip(addr),
        from_ip(IpAddr::V4(setup::VIP4)),
        port.to_be(),
        80u16.to_be(),
        PROTO_TCP,
    )
}

fn spec(i: u32, flags: u8, payload: usize) -> Spec {
    let (addr, port) = clients::v4(i);
    Spec {
        src: addr,
        dst: IpAddr::V4(setup::VIP4),
        sport: port,
        dport: 80,
        l4: L4::Tcp { flags },
        payload,
        vlan: None,
    }
}

/// What the bench reads of `bpftool map show --json`.
#[derive(serde::Deserialize)]
struct BpftoolMap {
    bytes_memlock: u64,
}

pub fn memory(lb: &Lb) -> Result<Memory> {
    let ids = lb
        .prog()?
        .info()?
        .map_ids()?
        .context("this kernel does not list a program's maps")?;
    let mut maps = BTreeMap::new();
    for id in ids {
        let info = MapInfo::from_id(id)?;
        let name = info.name_as_str().unwrap_or("?").to_owned();
        let out = std::process::Command::new("bpftool")
            .args(["map", "show", "id", &id.to_string(), "--json"])
            .output()
            .context("running bpftool")?;
        ensure!(out.status.success(), "bpftool map show id {id} failed");
        let bytes = serde_json::from_slice::<BpftoolMap>(&out.stdout)
            .context("bpftool gave no bytes_memlock")?
            .bytes_memlock;
        // The kernel keeps 15 characters of a map's name; give the full one back.
        let full = if lb_common::maps::ALL.contains(&name.as_str()) || name.len() < 15 {
            name
        } else {
            let longer: Vec<&&str> = lb_common::maps::ALL
                .iter()
                .filter(|n| n.starts_with(&name))
                .collect();
            match longer.as_slice() {
                [one] => (**one).to_owned(),
                _ => name,
            }
        };
        maps.insert(
            full,
            MapMemory {
                kind: info
                    .map_type()
                    .map_or_else(|_| "?".into(), |t| format!("{t:?}")),
                entries: info.max_entries(),
                key_size: info.key_size(),
                value_size: info.value_size(),
                bytes,
            },
        );
    }
    let total_bytes = maps.values().map(|m| m.bytes).sum();
    let mut take = |name: &str| {
        maps.remove(name)
            .with_context(|| format!("lb has no map {name}"))
    };
    let maps = MapsMemory {
        flows: take(lb_common::maps::FLOWS)?,
        maglev: take(lb_common::maps::MAGLEV)?,
        others: maps,
    };
    let possible = xdp::possible_cpus() as u32;
    Ok(Memory {
        source: "bpftool map show: bytes_memlock, which kernels since 6.5 compute from \
                 the map's own memory accounting (map_mem_usage)"
            .into(),
        possible_cpus: possible,
        maps,
        total_bytes,
    })
}

pub fn eviction(lb: &mut Lb) -> Result<Eviction> {
    let capacity = lb.sizes.max_flows;
    // Everything from one CPU: the test runs and the fill share its lists.
    xdp::pin_to_cpu(xdp::online_cpus() - 1)?;
    for i in 0..capacity {
        lb.maps
            .flows
            .insert(key(i), setup::established(i % setup::BACKENDS), 0)?;
    }
    let filled = count(lb)?;
    // Traffic on every TOUCH_EVERY-th flow: one data segment each, through lb.
    let prog = lb.prog()?;
    let mut out = vec![0u8; 512];
    let mut touched = 0;
    for i in (0..capacity).step_by(TOUCH_EVERY as usize) {
        let frame = spec(i, TCP_PSH_ACK, 100).build();
        let run = xdp::test_run(prog, &frame, 1, &mut out)?;
        ensure!(
            run.verdict == XDP_TX,
            "touching flow {i}: verdict {}",
            run.verdict
        );
        touched += 1;
    }
    let before = Maps::sum(&lb.maps.vip_stats, setup::VIP_TCP4)?;
    ensure!(
        before.new_flows == 0,
        "touching made {} new flows: some fill entries were already gone",
        before.new_flows
    );
    // New clients into the full table: SYNs through lb.
    // A positive share of a u32 count.
    #[allow(clippy::cast_sign_loss)]
    let inserted = (f64::from(capacity) * INSERT_SHARE) as u32;
    let first_new = capacity + 100_000;
    for i in first_new..first_new + inserted {
        let run = xdp::test_run(prog, &spec(i, TCP_SYN, 0).build(), 1, &mut out)?;
        ensure!(
            run.verdict == XDP_TX,
            "new flow {i}: verdict {}",
            run.verdict
        );
    }
    let after = Maps::sum(&lb.maps.vip_stats, setup::VIP_TCP4)?;
    ensure!(
        after.new_flows - before.new_flows == u64::from(inserted),
        "{} new flows counted for {inserted} SYNs",
        after.new_flows - before.new_flows
    );
    xdp::unpin()?;
    let mut present = HashSet::new();
    lb.maps.flows.for_each(|k, _| {
        present.insert(*k);
    })?;
    let group = capacity.div_ceil(GROUPS as u32);
    let mut untouched = vec![(0u64, 0u64); GROUPS];
    let mut touched_g = vec![(0u64, 0u64); GROUPS];
    for i in 0..capacity {
        let g = &mut if i % TOUCH_EVERY == 0 {
            &mut touched_g
        } else {
            &mut untouched
        }[(i / group) as usize];
        g.1 += 1;
        if present.contains(&key(i)) {
            g.0 += 1;
        }
    }
    let share = |v: &[(u64, u64)]| -> Vec<f64> {
        v.iter()
            .map(|(p, n)| round(*p as f64 / (*n).max(1) as f64, 4))
            .collect()
    };
    let total = |v: &[(u64, u64)]| {
        let (p, n) = v.iter().fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
        round(p as f64 / n.max(1) as f64, 4)
    };
    let new_present = (first_new..first_new + inserted)
        .filter(|&i| present.contains(&key(i)))
        .count();
    Ok(Eviction {
        capacity,
        filled,
        touched,
        inserted,
        untouched_by_group: share(&untouched),
        touched_by_group: share(&touched_g),
        untouched_survived: total(&untouched),
        touched_survived: total(&touched_g),
        new_present: round(new_present as f64 / f64::from(inserted), 4),
        entries_after: present.len() as u64,
    })
}

fn count(lb: &Lb) -> Result<u64> {
    lb.maps.flows.for_each(|_, _| {}).context("reading FLOWS")
}

/// Backend of drain flow `i`: backend 0 gets the first 1,000, backend 1 the
/// next 10,000, the rest spread over the others.
fn drain_backend(i: u32) -> u32 {
    if i < SMALL_DRAIN {
        0
    } else if i < SMALL_DRAIN + LARGE_DRAIN {
        1
    } else {
        2 + i % (setup::BACKENDS - 2)
    }
}

/// The drain accounting's timings, ms, one per round.
#[derive(Default)]
struct Timings {
    for_each_flow: Vec<f64>,
    count_by_backend: Vec<f64>,
    collect: Vec<f64>,
    record_10k: Vec<f64>,
    refresh_1k: Vec<f64>,
    refresh_10k: Vec<f64>,
    per_entry: Vec<f64>,
}

pub fn drain(lb: &mut Lb) -> Result<Drain> {
    for i in 0..DRAIN_FLOWS {
        lb.maps
            .flows
            .insert(key(i), setup::established(drain_backend(i)), 0)?;
    }
    let idle = IdleTimeouts {
        tcp_ns: 3_600 * 1_000_000_000,
        udp_ns: 3_600 * 1_000_000_000,
    };
    let maps = &mut lb.maps;
    let mut t = Timings::default();
    let ms = |start: Instant| start.elapsed().as_secs_f64() * 1e3;
    let collect = |maps: &Maps, id| {
        Tracked::collect(&maps.flows, &maps.drain_flows, id, monotonic_ns(), idle)
    };
    let mut small = collect(maps, 0);
    let mut large = collect(maps, 1);
    ensure!(
        small.len() == u64::from(SMALL_DRAIN) && large.len() == u64::from(LARGE_DRAIN),
        "collected {} and {} flows for the draining backends",
        small.len(),
        large.len()
    );
    let large_keys: Vec<FlowKey> = large.keys().copied().collect();
    for _ in 0..ROUNDS {
        let s = Instant::now();
        let n = maps.flows.for_each(|_, _| {})?;
        t.for_each_flow.push(ms(s));
        ensure!(n == u64::from(DRAIN_FLOWS), "one pass read {n} flows");

        let s = Instant::now();
        let (counts, scanned) = count_by_backend(&maps.flows, monotonic_ns(), idle);
        t.count_by_backend.push(ms(s));
        ensure!(
            scanned == u64::from(DRAIN_FLOWS)
                && counts.get(&0) == Some(&u64::from(SMALL_DRAIN))
                && counts.get(&1) == Some(&u64::from(LARGE_DRAIN)),
            "count_by_backend read {scanned} flows, counted {counts:?}"
        );

        let s = Instant::now();
        let c = collect(maps, 0);
        t.collect.push(ms(s));
        ensure!(c.len() == u64::from(SMALL_DRAIN), "collected {}", c.len());

        // What a drain start adds: its flows recorded out of reach of eviction.
        let s = Instant::now();
        let recorded = maps.record_drain_flows(&large_keys, 1);
        t.record_10k.push(ms(s));
        ensure!(
            recorded == large_keys.len(),
            "DRAIN_FLOWS took {recorded} of {} flows",
            large_keys.len()
        );
        maps.forget_drain_flows(&large_keys);

        for (times, tracked, want) in [
            (&mut t.refresh_1k, &mut small, SMALL_DRAIN),
            (&mut t.refresh_10k, &mut large, LARGE_DRAIN),
        ] {
            let s = Instant::now();
            let ended = tracked.refresh(&maps.flows, monotonic_ns(), idle);
            times.push(ms(s));
            ensure!(
                ended.is_empty() && tracked.len() == u64::from(want),
                "refresh ended {} flows, kept {}",
                ended.len(),
                tracked.len()
            );
        }

        let s = Instant::now();
        let n = maps.flows.iter().flatten().count();
        t.per_entry.push(ms(s));
        ensure!(n == DRAIN_FLOWS as usize, "entry by entry read {n} flows");
        eprint!(".");
    }
    eprintln!();
    let sum = |v: &[f64]| Summary::rounded(v, 3);
    Ok(Drain {
        flows: DRAIN_FLOWS,
        rounds: ROUNDS as u32,
        for_each_flow_ms: sum(&t.for_each_flow),
        count_by_backend_ms: sum(&t.count_by_backend),
        collect_ms: sum(&t.collect),
        record_10k_ms: sum(&t.record_10k),
        refresh_1k_ms: sum(&t.refresh_1k),
        refresh_10k_ms: sum(&t.refresh_10k),
        per_entry_scan_ms: sum(&t.per_entry),
        full_count_every_s: lb_userspace::daemon::FULL_COUNT_EVERY.as_secs_f64(),
        full_count_duty: lb_userspace::daemon::FULL_COUNT_DUTY,
    })
}
