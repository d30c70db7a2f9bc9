//! What the figures say: the flow table's design, and for every missed
//! target what the profile shows and what would change it.

use super::{
    figure::{Figure as F, Program, Ratio},
    lookup::{med, over, p50, ratio, slow, stat},
    report::{Report, Target},
};
use crate::report::{Md, f};

pub fn render_lru(r: &Report, md: &mut Md) {
    md.line(format!(
        "`lb`'s FLOWS is an LRU hash with one LRU list common to all CPUs (the kernel's \
         default), {} entries by default (`[daemon] max_flows`). The two flavours side by \
         side, same size, same 1M flows, timed on one CPU (test-run time; inserts net of the \
         per-call overhead, with the whole calls' mean; statistics in brackets):",
        r.table.max_flows
    ));
    md.blank();
    // Test-run time (net where per-call) and, in brackets, the statistics.
    let both = |a: F, b: F| -> [String; 2] {
        [a, b].map(|c| format!("{} ({})", med(r, c), stat(r, c.in_stats())))
    };
    let row = |what: &str, cells: [String; 2]| {
        let [a, b] = cells;
        [what.to_owned(), a, b]
    };
    let rows = [
        row("hit, ns", both(F::FloorFlow, F::FloorFlowPcpu)),
        row(
            "insert, table with room, ns",
            both(F::FloorFlowInsertNet, F::FloorFlowPcpuInsertNet),
        ),
        row(
            "insert, full table (evicts), ns",
            both(F::FloorFlowInsertFullNet, F::FloorFlowPcpuInsertFullNet),
        ),
        row(
            "median insert call, full table (overhead included), ns",
            [
                p50(r, F::FloorFlowInsertFull),
                p50(r, F::FloorFlowPcpuInsertFull),
            ],
        ),
        row(
            "calls over 5 µs, table with room",
            [slow(r, F::FloorFlowInsert), slow(r, F::FloorFlowPcpuInsert)],
        ),
        row(
            "calls over 5 µs, full table",
            [
                slow(r, F::FloorFlowInsertFull),
                slow(r, F::FloorFlowPcpuInsertFull),
            ],
        ),
        row(
            "entries one CPU can use",
            [
                r.table.max_flows.to_string(),
                r.table.pcpu_share.to_string(),
            ],
        ),
    ];
    md.table(["", "one common list", "per-CPU lists"], &rows);
    md.line(format!(
        "On one CPU the two cost the same on a hit ({}×) and nearly the same on an insert \
         ({}× with room, {}× full). They differ in how the LRU work is done: the common \
         list works in batches, refilling a CPU's local free list with 128 entries or, when \
         full, evicting 128 at once under the list's one lock; that is the one call in ~128 \
         above 5 µs, which leaves the typical insert cheap ({} ns median) and adds its \
         share to the mean. The per-CPU lists evict a few entries on every insert of a full \
         table, with no shared lock ({} ns median).",
        ratio(r, Ratio::FloorFlowPcpuVsFloorFlow),
        ratio(r, Ratio::FloorFlowPcpuInsertVsFloorFlowInsert),
        ratio(r, Ratio::FloorFlowPcpuInsertFullVsFloorFlowInsertFull),
        p50(r, F::FloorFlowInsertFull),
        p50(r, F::FloorFlowPcpuInsertFull),
    ));
    md.blank();
    md.line(format!(
        "Why one common list: with per-CPU lists each CPU owns 1/ncpu of the entries ({} of \
         {} here) and can neither use another CPU's free entries nor evict another CPU's \
         flows. A flow lives in the list of the CPU that created it, so when RSS spreads \
         flows unevenly the busy CPUs evict live flows at a fraction of the nominal size \
         while the others' shares sit empty, and a flow whose packets move to another CPU \
         (RSS re-steering, a NIC reconfiguration, an ECMP change upstream) is created again \
         there: a second entry and, if the tables changed in between, possibly a second \
         backend. Eviction of live flows is exactly what `lb` must avoid during a drain (the \
         second-chance path only covers draining backends). The common list keeps the whole \
         table usable by whichever CPU has the flows, at the same cost per packet on one CPU. \
         Its price is the shared lock during a batch: at a high rate of new flows into a \
         full table, CPUs can wait on each other there. The answer is a table large enough \
         not to be full in normal operation: 2^20 entries hold a million concurrent flows \
         (memory in part 5); a new flow into the full table costs `lb` {} ns against {} ns \
         with room ({}×).",
        r.table.pcpu_share,
        r.table.max_flows,
        med(r, F::NewFlowFullNet),
        med(r, F::NewFlowNet),
        ratio(r, Ratio::NewFlowFullVsNewFlow),
    ));
    md.blank();
}

/// For every missed target: by how much, what the profile shows, and what
/// would change it.
pub fn render_misses(r: &Report, md: &mut Md) {
    md.line(format!("The established path: {}", established_path(r)));
    md.blank();
    let missed: Vec<(&Ratio, &Target)> = r.targets.iter().filter(|(_, t)| !t.met).collect();
    if missed.is_empty() {
        md.line("Every target is met.");
        md.blank();
        return;
    }
    let size = |p| r.profile.get(&p).map_or(0, |s| s.xlated_insns);
    let verified = |p| r.profile.get(&p).map_or(0, |s| s.verified_insns);
    md.line(format!(
        "`lb` is {} instructions after the verifier ({} walked by it over all paths) \
         against {} ({}) for `floor` and {} ({}) for `floor_flow`; most of lb's are the \
         paths a benchmark packet does not take (IPv6 extension headers, fragments, \
         malformed-packet accounting, second chance). The missed targets:",
        size(Program::Lb),
        verified(Program::Lb),
        size(Program::Floor),
        verified(Program::Floor),
        size(Program::FloorFlow),
        verified(Program::FloorFlow),
    ));
    md.blank();
    let v = |c| r.ns.get(&c).map_or(f64::NAN, |s| s.median);
    for (name, t) in missed {
        let head = format!(
            "- `{name}`: {} against ≤ {} (missed by {:.0}%; run-time statistics {}).",
            f(t.measured, 2),
            t.max,
            100.0 * (t.measured / t.max - 1.0),
            f(t.stats, 2)
        );
        let body = match name {
            Ratio::EstablishedVsFloorFlow => format!(
                " {} With cold caches the ratio is {}× \
                 (`established_spread_vs_floor_flow_spread`).",
                established_path(r),
                ratio(r, Ratio::EstablishedSpreadVsFloorFlowSpread),
            ),
            Ratio::NewFlowVsFloorFlow => format!(
                " Path: parse → VIP_ADDRS → VIP_PORTS → FLOWS lookup (miss) → VIPS → the clock \
                 → flow hash (MurmurHash3 over ten words) → MAGLEV_LIVE_HALF and MAGLEV \
                 array reads → BACKENDS → FLOWS insert → MAC rewrite → counters → XDP_TX. \
                 The target compares a path that must miss the caches (a 5-tuple never seen \
                 lands on a cold bucket of a 1M-entry table, then takes a free entry) with a \
                 hit that repeat = N keeps in cache: the least any program pays for a new \
                 flow, `floor_flow_insert` (lookup miss + insert), is already {:.1}× \
                 floor_flow ({} ns net), and a lookup hit on a cold flow \
                 (`floor_flow_spread`) {:.1}×. Against the reference that does the same \
                 work, lb's new flow is {}× (`new_flow_vs_floor_flow_insert`); {}× into a \
                 full table. What lb adds: the VIPS lookup, the clock, the hash and the \
                 Maglev slot read (a random slot of the VIP's table, itself a cache miss), \
                 the counters. 3× floor_flow \
                 is out of reach of any design that keeps per-flow state in a table this \
                 size on this machine.",
                v(F::FloorFlowInsertNet) / v(F::FloorFlow),
                f(v(F::FloorFlowInsertNet), 1),
                v(F::FloorFlowSpreadNet) / v(F::FloorFlow),
                ratio(r, Ratio::NewFlowVsFloorFlowInsert),
                ratio(r, Ratio::NewFlowFullVsFloorFlowInsertFull),
            ),
            Ratio::NonvipVsFloor => format!(
                " Path: parse → VIP_ADDRS array read and address compare (not a VIP \
                 address: the address test comes first, so the port is never looked up) → \
                 NAT_CONFIG array read (port not in the NAT range) → GLOBAL_STATS counter → \
                 XDP_PASS; against the floor's parse and MAC swap that is two array lookups \
                 and one counter ({} against {} ns).",
                f(v(F::Nonvip), 1),
                f(v(F::Floor), 1),
            ),
            Ratio::NonvipPortVsFloor => format!(
                " Path: the same as nonvip's, the port making no difference: parse → \
                 VIP_ADDRS array read and address compare (not a VIP address) → NAT_CONFIG \
                 array read → GLOBAL_STATS counter → XDP_PASS ({} against {} ns).",
                f(v(F::NonvipPort), 1),
                f(v(F::Floor), 1),
            ),
            _ => String::new(),
        };
        md.line(format!("{head}{body}"));
    }
    md.blank();
}

/// The established path, and what its clock costs against the references.
fn established_path(r: &Report) -> String {
    let v = |c| r.ns.get(&c).map_or(f64::NAN, |s| s.median);
    let clock = over(r, Ratio::FloorFlowClkVsFloorFlow, F::FloorFlow);
    let coarse = over(r, Ratio::FloorFlowCclkVsFloorFlow, F::FloorFlow);
    let jiffies = over(r, Ratio::FloorFlowJifVsFloorFlow, F::FloorFlow);
    format!(
        "parse → VIP_ADDRS array and address compare → VIP_PORTS array → FLOWS lookup (hit; the entry holds its VIP id, so no \
         VIPS lookup) → BACKENDS array → the clock → last_seen written only when it moved \
         → MAC rewrite → VIP_STATS and BACKEND_STATS per-CPU counters → XDP_TX; map keys \
         passed by reference. Against floor_flow's {} ns, lb's {} ns ({}×). The clock is \
         the dearest step a flow hit needs: in the references the exact clock costs \
         {clock:+.0} ns per packet and the coarse one {coarse:+.0} ns (helper calls pay for \
         this CPU's return-thunk mitigation), while `bpf_jiffies64()` costs {jiffies:+.0} ns \
         (the verifier inlines it as one load). So lb reads the tick count on every packet \
         and calls the coarse clock only when the tick moved, keeping its value per CPU \
         (`CLOCK`, a one-slot per-CPU array whose lookup the verifier also inlines): flows \
         keep coarse CLOCK_MONOTONIC times, which user space compares with its own clock.",
        f(v(F::FloorFlow), 1),
        f(v(F::Established), 1),
        ratio(r, Ratio::EstablishedVsFloorFlow),
    )
}
