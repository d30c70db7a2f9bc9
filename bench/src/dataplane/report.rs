//! Part 1's figures, their JSON keys, the tables that document cases and ratios, and the plot.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{
    plot::{self, Bar},
    report::RunInfo,
    stats::Summary,
    xdp::ProgSize,
};

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Report {
    pub run: RunInfo,
    pub method: Method,
    /// The three headline ratios (medians of per-round ratios).
    pub established_vs_floor_flow: f64,
    pub nonvip_vs_floor: f64,
    pub new_flow_vs_floor_flow: f64,
    /// ns per packet by the test-run time, per case.
    pub ns: BTreeMap<String, Summary>,
    /// Per-call cases: the median call of each round, over rounds.
    #[serde(default)]
    pub p50_ns: BTreeMap<String, Summary>,
    /// Per-call cases: calls slower than 5 µs (batches of LRU work, interrupts).
    #[serde(default)]
    pub slow_calls: BTreeMap<String, SlowCalls>,
    pub ratios: BTreeMap<String, Summary>,
    /// ns per packet by the kernel's run-time statistics, per case.
    pub stats_ns: BTreeMap<String, Summary>,
    pub stats_ratios: BTreeMap<String, Summary>,
    pub targets: BTreeMap<String, Target>,
    pub profile: BTreeMap<String, ProgSize>,
    pub table: TableState,
    /// PNG files under docs/bench.
    #[serde(default)]
    pub plots: Vec<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SlowCalls {
    /// Share of the calls over 5 µs (median over rounds).
    pub share: f64,
    /// Their mean, µs (median over rounds).
    pub mean_us: f64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Method {
    pub repeat: u32,
    pub calls: u32,
    pub rounds: u32,
    pub stats_rounds: u32,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Target {
    pub max: f64,
    pub measured: f64,
    pub stats: f64,
    pub met: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TableState {
    pub max_flows: u32,
    /// Entries in lb's FLOWS during the non-full cases.
    pub present: u64,
    /// Entries in lb's FLOWS when the full-table cases started and ended.
    pub full_before: u64,
    pub full_after: u64,
    /// Entries each CPU's list holds in the per-CPU LRU table.
    pub pcpu_share: u32,
    /// The CPU the timing ran on.
    pub cpu: usize,
}

pub const KEYS: &[(&str, &str)] = &[
    (
        "dataplane.established_vs_floor_flow",
        "lb's established-TCP path (flow hit, 1M flows) over floor_flow (target at most 1.2)",
    ),
    (
        "dataplane.nonvip_vs_floor",
        "lb on a non-VIP packet to a port no VIP uses (passed) over floor (target at most 1.5; `targets` also holds nonvip_port_vs_floor, a non-VIP address on a VIP's port)",
    ),
    (
        "dataplane.new_flow_vs_floor_flow",
        "lb on a SYN of a new 5-tuple (Maglev pick and insert), net of the per-call overhead, over floor_flow (target at most 3)",
    ),
    (
        "dataplane.ns.<case>.{median,min,max}",
        "ns per packet from BPF_PROG_TEST_RUN's time (per-call cases: the mean of all calls), over rounds; cases in the table above (`_net`: per-call overhead subtracted)",
    ),
    (
        "dataplane.p50_ns.<case>.{median,min,max}",
        "per-call cases: the median call of each round (test-run time, overhead included), over rounds",
    ),
    (
        "dataplane.slow_calls.<case>.{share,mean_us}",
        "per-call cases: share of the calls over 5 µs and their mean in µs (medians over rounds); the common LRU list's batches of work show here",
    ),
    (
        "dataplane.stats_ns.<case>.{median,min,max}",
        "ns per packet from the kernel's run-time statistics (run_time_ns / run_cnt), separate runs",
    ),
    (
        "dataplane.ratios.<ratio>.{median,min,max}",
        "per-round ratios of the test-run times; ratios in the table above",
    ),
    (
        "dataplane.stats_ratios.<ratio>.{median,min,max}",
        "the same ratios from the run-time statistics",
    ),
    (
        "dataplane.targets.<ratio>.{max,measured,stats,met}",
        "each target: its maximum, the measured ratio, the statistics' ratio, whether met",
    ),
    (
        "dataplane.profile.<program>.{xlated_insns,jited_bytes,verified_insns}",
        "program size after the verifier (instructions), JITed bytes, instructions the verifier walked",
    ),
    (
        "dataplane.table.{max_flows,present,full_before,full_after,pcpu_share,cpu}",
        "FLOWS capacity; entries during the non-full cases; entries before and after the full-table cases; entries per CPU list of the per-CPU LRU reference; the CPU timed on",
    ),
    (
        "dataplane.method.{repeat,calls,rounds,stats_rounds}",
        "runs per repeat call; calls per per-call case and round; rounds timed; rounds with statistics",
    ),
    ("dataplane.plots", "PNG files under docs/bench"),
];

/// Each case: its program, its frame and the path it is proved to take.
pub const CASES: &[(&str, &str, &str)] = &[
    (
        "xdp_pass",
        "xdp_pass",
        "returns XDP_PASS: the cost of running any program at all",
    ),
    (
        "floor",
        "floor",
        "TCP/IPv4 data segment: parse, swap MACs, XDP_TX; output = input after an even number of runs",
    ),
    (
        "floor_udp / floor_ipv6 / floor_vlan",
        "floor",
        "the same on a UDP, a TCP/IPv6 and an 802.1Q-tagged frame",
    ),
    (
        "floor_flow",
        "floor_flow",
        "floor + a hit in a 1M-entry LRU hash (common list); output MAC = the flow's value",
    ),
    (
        "floor_flow_udp / _ipv6 / _vlan",
        "floor_flow",
        "the same on the UDP, IPv6 and VLAN frames",
    ),
    (
        "floor_flow4",
        "floor_flow4",
        "floor_flow for IPv4 under lb's compact 16-byte key (FLOWS_COMMON4, 1M entries): the reference of lb's IPv4 established path",
    ),
    (
        "floor_flow_pcpu",
        "floor_flow_pcpu",
        "floor_flow over per-CPU LRU lists (BPF_F_NO_COMMON_LRU), 1M entries",
    ),
    (
        "floor_flow_vip",
        "floor_flow_vip",
        "floor_flow after a hit in a VIP hash keyed like lb's VIPS: lb's two hash lookups",
    ),
    (
        "floor_flow_clk / _cclk / _jif",
        "floor_flow_clk, floor_flow_cclk, floor_flow_jif",
        "floor_flow that writes bpf_ktime_get_ns() / bpf_ktime_get_coarse_ns() / bpf_jiffies64() (inlined by the verifier) into the flow's last_seen_ns on every packet: what each clock costs (lb reads jiffies per packet and the coarse clock once per tick)",
    ),
    (
        "established",
        "lb",
        "TCP data segment of one of 1M flows in FLOWS: XDP_TX to the flow's backend MAC; VIP and backend packets +N, bytes +N×len, new_flows +0, every other counter +0",
    ),
    (
        "udp / ipv6 / vlan",
        "lb",
        "the same path for a UDP flow, a TCP/IPv6 flow, a VLAN-tagged TCP flow (own VIPs)",
    ),
    (
        "nonvip",
        "lb",
        "TCP SYN to 198.51.100.99:22: VIP_PORTS bit clear, XDP_PASS, frame untouched; global packets +N, nothing else",
    ),
    (
        "nonvip_port",
        "lb",
        "TCP SYN to 198.51.100.99:80, a VIP's port on an address that is no VIP's: VIP_PORTS bit set, VIP_ADDRS slot empty, XDP_PASS, frame untouched; global packets +N, nothing else",
    ),
    (
        "floor_r1 / floor_flow_r1 / established_r1",
        "floor, floor_flow, lb",
        "the stable paths again, one call per packet (repeat = 1): the per-call overhead",
    ),
    (
        "floor_flow_spread / established_spread",
        "floor_flow, lb",
        "one call per packet, each a data segment of a different one of the 1M flows, picked at random: lookups that miss the CPU caches, as traffic over many flows does; output MAC and lb's counters checked per call",
    ),
    (
        "new_flow",
        "lb",
        "TCP SYN from a new client every call, FLOWS4 at 1M of 1,048,576: FLOWS4 miss, Maglev pick, HANDSHAKES slot written (no flow entry: the flood defence); output MAC = the predicted Maglev pick; new_flows +1 per call; the pick is in HANDSHAKES afterwards",
    ),
    (
        "confirm / confirm_full",
        "lb",
        "a new client's SYN (untimed, checked), then its first data segment, timed: FLOWS4 miss, no second chance, HANDSHAKES hit, FLOWS4 insert on the SYN's backend; new_flows +1 (the SYN), confirmed +1, the flow in FLOWS4 afterwards; confirm_full into the full table",
    ),
    (
        "connection_full_net",
        "derived",
        "new_flow_full_net + confirm_full_net: a whole new connection into the full table",
    ),
    (
        "floor_flow_insert / floor_flow_pcpu_insert",
        "floor_flow, floor_flow_pcpu",
        "new 5-tuple every call: lookup miss + insert, table not full (the least a new flow costs)",
    ),
    (
        "full_floor / full_floor_r1 / full_floor_flow / full_floor_flow_pcpu",
        "references",
        "the same as above, measured in the full-table rounds",
    ),
    (
        "new_flow_full",
        "lb",
        "TCP SYN from a new client every call with FLOWS4 FULL (the SYN writes HANDSHAKES only)",
    ),
    (
        "floor_flow_insert_full / floor_flow_pcpu_insert_full",
        "floor_flow, floor_flow_pcpu",
        "miss + insert into a full table, common vs per-CPU LRU lists",
    ),
    (
        "per_call_overhead / full_per_call_overhead",
        "derived",
        "floor_r1 − floor in the same round: what a repeat = 1 call adds",
    ),
    (
        "<case>_net",
        "derived",
        "a per-call case minus the per-call overhead of its round",
    ),
];

/// What each ratio compares.
pub const RATIOS: &[(&str, &str)] = &[
    ("established_vs_floor_flow", "established / floor_flow"),
    ("nonvip_vs_floor", "nonvip / floor"),
    (
        "established_vs_floor_flow4",
        "lb's IPv4 established path (compact key in FLOWS4) against floor_flow4, the floor plus one hit under the same 16-byte key (target at most 1.4; the IPv6 path's target is ipv6_vs_floor_flow_ipv6, at most 1.3)",
    ),
    (
        "floor_flow_vs_floor_flow4",
        "what the 40-byte key costs a flow hit against the 16-byte one",
    ),
    (
        "nonvip_port_vs_floor",
        "nonvip_port / floor: a non-VIP address on a VIP's port",
    ),
    (
        "new_flow_vs_floor_flow",
        "new_flow_net / floor_flow (statistics: new_flow / floor_flow)",
    ),
    (
        "new_flow_vs_floor_flow_insert",
        "new_flow_net / floor_flow_insert_net: lb's new flow against the least a new flow costs",
    ),
    (
        "new_flow_full_vs_floor_flow",
        "new_flow_full_net / full_floor_flow",
    ),
    (
        "new_flow_full_vs_floor_flow_insert_full",
        "new_flow_full_net / floor_flow_insert_full_net",
    ),
    (
        "connection_full_vs_floor_flow_insert_full",
        "a whole new connection into a full table, its SYN (new_flow_full_net) plus its first ACK (confirm_full_net), against the least an insert into a full table costs (target 1.4: 1.2 × the 1.17 new_flow_full measured before the flood defence, when the SYN made the entry; statistics: the SYN only)",
    ),
    (
        "new_flow_full_vs_new_flow",
        "what a full table adds to a new flow",
    ),
    (
        "udp_vs_floor_flow_udp, ipv6_vs_floor_flow_ipv6, vlan_vs_floor_flow_vlan",
        "each established path against floor_flow on the same frame",
    ),
    (
        "floor_flow_vs_floor",
        "what one flow-table hit adds to the floor",
    ),
    (
        "established_r1_net_vs_established",
        "check of the subtraction: a stable path measured per call, net, against repeat = N (≈ 1 when it holds)",
    ),
    (
        "established_spread_vs_floor_flow_spread",
        "the established path against floor_flow with cold caches (random flow each call), both net",
    ),
    (
        "established_vs_floor_flow_vip",
        "lb against the reference that does lb's two hash lookups",
    ),
    (
        "floor_flow_vip_vs_floor_flow",
        "what the VIP hash lookup adds to floor_flow",
    ),
    (
        "floor_flow_clk_vs_floor_flow",
        "what writing bpf_ktime_get_ns() into last_seen on every packet adds",
    ),
    (
        "floor_flow_cclk_vs_floor_flow",
        "the same with bpf_ktime_get_coarse_ns()",
    ),
    (
        "floor_flow_jif_vs_floor_flow",
        "the same with bpf_jiffies64(), inlined by the verifier as one load",
    ),
    (
        "established_vs_floor_flow_net_of_xdp_pass, new_flow_vs_floor_flow_net_of_xdp_pass",
        "a target ratio with the empty program's time (xdp_pass: the test-run loop itself) taken off both sides: the programs' own work only (not for nonvip: the floor's own work, a few ns, is below the timer's 1 ns resolution)",
    ),
    (
        "floor_flow_pcpu_vs_floor_flow",
        "lookup hit, per-CPU against common LRU lists",
    ),
    (
        "floor_flow_pcpu_insert_vs_floor_flow_insert",
        "insert, table not full, per-CPU against common",
    ),
    (
        "floor_flow_pcpu_insert_full_vs_floor_flow_insert_full",
        "insert with eviction, per-CPU against common",
    ),
];

/// The bar chart of the main cases.
pub fn plot(r: &Report, dir: &std::path::Path) -> Option<String> {
    let pick: &[(&str, usize)] = &[
        ("floor", 0),
        ("nonvip", 1),
        ("nonvip_port", 1),
        ("floor_flow", 0),
        ("floor_flow4", 0),
        ("floor_flow_pcpu", 2),
        ("established", 1),
        ("udp", 1),
        ("ipv6", 1),
        ("vlan", 1),
        ("floor_flow_insert_net", 0),
        ("floor_flow_pcpu_insert_net", 2),
        ("new_flow_net", 1),
        ("confirm_net", 1),
        ("floor_flow_insert_full_net", 0),
        ("floor_flow_pcpu_insert_full_net", 2),
        ("new_flow_full_net", 1),
        ("confirm_full_net", 1),
        ("connection_full_net", 1),
    ];
    let bars: Vec<Bar> = pick
        .iter()
        .filter_map(|(c, color)| {
            let s = r.ns.get(*c)?;
            Some(Bar {
                label: (*c).to_owned(),
                value: s.median,
                lo: s.min,
                hi: s.max,
                color: *color,
            })
        })
        .collect();
    plot::make(dir, "dataplane.png", |path| {
        plot::hbars(
            path,
            "ns per packet (blue: references, orange: lb, green: per-CPU LRU)",
            "ns per packet (test-run time; per-call cases net of the call overhead)",
            &bars,
        )
    })
}

#[cfg(test)]
mod tests {
    use super::super::render::render;
    use super::*;
    use crate::report::{Md, assert_documented, sample_run};

    fn sample() -> Report {
        let s = Summary {
            median: 2.0,
            min: 1.0,
            max: 3.0,
        };
        let size = ProgSize {
            xlated_insns: 1,
            jited_bytes: 2,
            verified_insns: 3,
        };
        let target = Target {
            max: 1.2,
            measured: 1.5,
            stats: 1.4,
            met: false,
        };
        Report {
            run: sample_run(),
            method: Method {
                repeat: 2,
                calls: 1,
                rounds: 5,
                stats_rounds: 5,
            },
            established_vs_floor_flow: 1.5,
            nonvip_vs_floor: 1.1,
            new_flow_vs_floor_flow: 9.0,
            ns: [("floor".to_owned(), s), ("established".to_owned(), s)].into(),
            p50_ns: [("new_flow".to_owned(), s)].into(),
            slow_calls: [(
                "new_flow".to_owned(),
                SlowCalls {
                    share: 0.01,
                    mean_us: 10.0,
                },
            )]
            .into(),
            ratios: [("established_vs_floor_flow".to_owned(), s)].into(),
            stats_ns: [("floor".to_owned(), s)].into(),
            stats_ratios: [("established_vs_floor_flow".to_owned(), s)].into(),
            targets: [("established_vs_floor_flow".to_owned(), target)].into(),
            profile: [("lb".to_owned(), size)].into(),
            table: TableState {
                max_flows: 4,
                present: 3,
                full_before: 4,
                full_after: 4,
                pcpu_share: 2,
                cpu: 1,
            },
            plots: vec!["dataplane.png".into()],
        }
    }

    #[test]
    fn every_key_is_documented_and_the_section_renders() {
        let r = sample();
        assert_documented("dataplane", &serde_json::to_value(&r).unwrap(), KEYS);
        let mut md = Md(String::new());
        render(&r, &mut md);
        assert!(md.0.contains("**missed** by 25%"), "{}", md.0);
        assert!(md.0.contains("![ns per packet"), "{}", md.0);
    }
}
