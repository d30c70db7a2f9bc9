//! The NAT cases' figures (typed: the report reads fields, never names),
//! their JSON keys and their part of the report.

use serde::{Deserialize, Serialize};

use crate::{
    report::{Md, f, table},
    stats::Summary,
    template::fill,
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
    let table = table(
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
    let med = |s: &Summary| f(s.median, 1);
    md.0.push_str(&fill(
        include_str!("../../templates/dataplane_nat.md"),
        &[
            ("backends", m.backends.to_string()),
            ("port_min", m.port_min.to_string()),
            ("port_max", m.port_max.to_string()),
            ("calls", m.calls.to_string()),
            ("per_call_overhead", med(&n.refs.per_call_overhead_ns)),
            ("rounds", m.rounds.to_string()),
            ("stats_rounds", m.stats_rounds.to_string()),
            ("table", table),
            ("floor", med(&n.refs.floor_ns)),
            ("floor_flow", med(&n.refs.floor_flow_ns)),
            ("floor_stats", med(&n.refs.floor_stats_ns)),
            ("floor_flow_stats", med(&n.refs.floor_flow_stats_ns)),
            ("dsr_established", dsr.established.map_or("–".into(), med)),
            ("dsr_new_flow_net", dsr.new_flow_net.map_or("–".into(), med)),
        ],
    ));
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
