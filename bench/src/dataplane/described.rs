//! The tables docs/benchmarks.md documents part 1's cases and ratios with.

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
        "TCP SYN to 198.51.100.99:22: VIP_ADDRS slot empty (the address is tested before the port), XDP_PASS, frame untouched; global packets +N, nothing else",
    ),
    (
        "nonvip_port",
        "lb",
        "TCP SYN to 198.51.100.99:80, a VIP's port on an address that is no VIP's: VIP_ADDRS slot empty, the port never looked up, XDP_PASS, frame untouched; global packets +N, nothing else",
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
