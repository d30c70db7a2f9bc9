//! The NAT cases' figures (typed: the report reads fields, never names),
//! their JSON keys and their part of the report.

use serde::{Deserialize, Serialize};

use crate::{
    report::{Md, f},
    stats::Summary,
};

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct NatReport {
    pub method: NatMethod,
    /// An established flow's request, client → VIP translated to
    /// nat_source:nport → backend:8000.
    pub request: NatFigures,
    /// The backend's reply, translated back to VIP → client.
    pub reply: NatFigures,
    /// A new client's SYN: Maglev pick and source-port allocation.
    pub new_flow: NatFigures,
    pub refs: NatRefs,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct NatMethod {
    pub calls: u32,
    pub rounds: u32,
    pub stats_rounds: u32,
    pub port_min: u16,
    pub port_max: u16,
    pub backends: u32,
}

/// One NAT case, over rounds.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct NatFigures {
    /// Mean ns per packet, test-run time, per-call overhead subtracted.
    pub net_ns: Summary,
    /// The median call, overhead included.
    pub p50_ns: Summary,
    /// Run-time statistics (run_time_ns / run_cnt), no subtraction needed.
    pub stats_ns: Summary,
    /// Per-round ratios of `net_ns` over `floor` and over `floor_flow`.
    pub vs_floor: Summary,
    pub vs_floor_flow: Summary,
}

/// The references, measured in the same rounds.
// The unit is part of every JSON key, as in the other parts' reports.
#[allow(clippy::struct_field_names)]
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct NatRefs {
    pub floor_ns: Summary,
    pub floor_flow_ns: Summary,
    /// A floor call with repeat = 1 minus a floor run with repeat = N.
    pub per_call_overhead_ns: Summary,
    pub floor_stats_ns: Summary,
    pub floor_flow_stats_ns: Summary,
}

fn row(name: &str, what: &str, c: &NatFigures) -> [String; 7] {
    [
        format!("`{name}`"),
        what.to_owned(),
        f(c.net_ns.median, 1),
        format!("{}–{}", f(c.net_ns.min, 1), f(c.net_ns.max, 1)),
        f(c.stats_ns.median, 1),
        f(c.vs_floor.median, 2),
        f(c.vs_floor_flow.median, 2),
    ]
}

/// The DSR figures the NAT section compares with, from the rounds of the
/// other cases.
pub struct DsrFigures<'a> {
    pub established: Option<&'a Summary>,
    pub new_flow_net: Option<&'a Summary>,
}

pub fn render(n: &NatReport, dsr: &DsrFigures, md: &mut Md) {
    let m = &n.method;
    md.line("### NAT forwarding (`forward = \"nat\"`)");
    md.blank();
    md.line(format!(
        "Method: a second `lb`, loaded as the daemon loads it, with one NAT VIP (198.51.100.10:80/tcp, \
         {} backends on port 8000, source 203.0.113.2, ports {}–{}), run with each frame arriving \
         on an interface of a namespace whose FIB knows the client and the backends, so \
         `bpf_fib_lookup` answers and the packet leaves by XDP_REDIRECT. BPF_PROG_TEST_RUN with \
         repeat > 1 would run the program on its own output (the translated packet, which is \
         no longer the request, nor a reply), so every NAT case is {} calls with repeat = 1 per \
         round on a fresh copy of its frame, and the per-call overhead measured the same way \
         on the floor in the same round ({} ns; floor with repeat = 1 against repeat = N) is \
         subtracted; the established flow's translation is made beforehand by the program \
         itself (an untimed SYN, handshake ACK and first request). {} rounds, medians; a \
         separate pass of {} rounds reads the run-time statistics. Proof of path, every call: \
         verdict XDP_REDIRECT, the output frame byte for byte against one built from scratch \
         (addresses, ports, MACs of the neighbour entries, IPv4 and TCP checksums \
         verified), and per case the change of every counter of the VIP, the backends and \
         the global slot (request: packets and bytes; reply: reply_packets and reply_bytes; \
         new flow: also new_flows +1 on the Maglev backend, its translation read back from \
         NAT_FWD with a port in the range and its NAT_REV entry pointing back at the client).",
        m.backends,
        m.port_min,
        m.port_max,
        m.calls,
        f(n.refs.per_call_overhead_ns.median, 1),
        m.rounds,
        m.stats_rounds,
    ));
    md.blank();
    md.table(
        [
            "case",
            "path",
            "ns (net)",
            "range",
            "ns (run-time stats)",
            "× floor",
            "× floor_flow",
        ],
        &[
            row(
                "nat_request",
                "established request: flow hit, NAT_FWD hit, rewrite, FIB",
                &n.request,
            ),
            row(
                "nat_reply",
                "backend's reply: NAT_REV hit, rewrite, FIB",
                &n.reply,
            ),
            row(
                "nat_new_flow",
                "SYN of a new client: Maglev pick, port allocation, rewrite, FIB",
                &n.new_flow,
            ),
        ],
    );
    md.blank();
    md.line(format!(
        "References in the same rounds: `floor` {} ns, `floor_flow` {} ns (run-time statistics: \
         {} and {} ns). For comparison, DSR's established path (`established`) is {} ns and its \
         new flow (`new_flow_net`) {} ns in the rounds above.",
        f(n.refs.floor_ns.median, 1),
        f(n.refs.floor_flow_ns.median, 1),
        f(n.refs.floor_stats_ns.median, 1),
        f(n.refs.floor_flow_stats_ns.median, 1),
        dsr.established.map_or("–".into(), |s| f(s.median, 1)),
        dsr.new_flow_net.map_or("–".into(), |s| f(s.median, 1)),
    ));
    md.blank();
    md.line("Keys of the NAT cases:");
    md.blank();
    md.keys(&[crate::keys::DATAPLANE_NAT]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::assert_documented;

    #[test]
    fn nat_keys_are_documented_and_render() {
        let s = Summary {
            median: 2.0,
            min: 1.0,
            max: 3.0,
        };
        let fig = NatFigures {
            net_ns: s,
            p50_ns: s,
            stats_ns: s,
            vs_floor: s,
            vs_floor_flow: s,
        };
        let n = NatReport {
            method: NatMethod {
                calls: 1,
                rounds: 1,
                stats_rounds: 1,
                port_min: 2000,
                port_max: 2999,
                backends: 10,
            },
            request: fig.clone(),
            reply: fig.clone(),
            new_flow: fig,
            refs: NatRefs {
                floor_ns: s,
                floor_flow_ns: s,
                per_call_overhead_ns: s,
                floor_stats_ns: s,
                floor_flow_stats_ns: s,
            },
        };
        let v = serde_json::json!({ "nat": serde_json::to_value(&n).unwrap() });
        assert_documented("dataplane", &v, &[crate::keys::DATAPLANE_NAT]);
    }
}
