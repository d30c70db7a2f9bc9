//! The flood defence: its design, and what it costs a new connection.

use super::{
    figure::{Figure as F, Ratio},
    lookup::{med, ratio, stat},
    report::Report,
};
use crate::report::Md;

pub fn render_flood_defence(r: &Report, md: &mut Md) {
    md.line("### The flood defence: who may add to the flow table");
    md.blank();
    md.line(
        "Before, every packet that missed the flow table inserted an entry, so a spoofed SYN \
         or ACK flood several times the table's size evicted every established flow; an \
         evicted flow is re-picked on its next packet, which breaks it when the tables \
         changed meanwhile (a drain, a health change, a reload). Now a packet without an \
         entry takes one only when it proves a connection, or within a budget \
         (`lb-ebpf/src/program/admit.rs`):",
    );
    md.blank();
    md.line(
        "- a SYN takes no flow entry: its pick (backend, VIP, sequence number) goes into \
         `HANDSHAKES`, an array of 65,536 slots indexed by the flow hash, written in place \
         (no allocation, no LRU work). A SYN flood overwrites slots and never touches the \
         flow tables; a retransmitted SYN (same sequence number) finds its slot and goes \
         to the same backend;",
    );
    md.line(
        "- the handshake's first ACK (which a spoofed source never sends: it never sees the \
         SYN-ACK) finds the slot and makes the flow entry with the SYN's backend, even if \
         the tables flipped in between (a SYN just before a drain's flip completes on the \
         backend that answered it, instead of being reset by another), provided that \
         backend still keeps flows. SYNs count in `new_flows` when picked, first ACKs in \
         `confirmed`: a SYN flood shows as `new_flows` far above `confirmed` \
         (`lb_vip_confirmed_total`);",
    );
    md.line(
        "- any other packet without an entry or a handshake goes first to its second \
         chance (a draining backend's connection recorded in `DRAIN_FLOWS` when the drain \
         began), else to the live Maglev pick, and takes an entry only while its CPU's \
         budget for the second lasts (a flow evicted by legitimate overflow, the first \
         datagram of a UDP flow, a spoofed ACK): max_flows / 64 per CPU and second, at \
         least 64 (`lb_common::maps::orphan_inserts_per_sec`, set at load time). Past it \
         the packet is forwarded without an entry and counted `unrecorded` \
         (`lb_vip_unrecorded_total`): an ACK flood can renew at most 1/64 of the table per \
         CPU and second, the least recently used part, never the flows in use;",
    );
    md.line(
        "- a SYN that starts a connection (no entry, or a closed one) to a VIP with a \
         draining backend drops any `DRAIN_FLOWS` record of its 5-tuple, and a handshake in progress is checked \
         before the second chance: a client reuses a 5-tuple only once its old connection \
         is gone, so a record of the old one must not send the new one to the draining \
         backend, which would reset it;",
    );
    md.line(
        "- FIN and RST without an entry are forwarded to the live pick (or to their SYN's \
         backend) and make none: their connection is ending.",
    );
    md.blank();
    md.line(format!(
        "Cost. A SYN is now a flow-table miss, the Maglev pick and a slot write: {} ns \
         (`new_flow_net`; {} ns into a full table, `new_flow_full_net`). The first ACK is \
         a miss, the slot read and compare, and the insert the SYN used to make: {} ns \
         (`confirm_net`; {} ns full, `confirm_full_net`). Only while a backend of the VIP \
         drains (`VIP_F_DRAINING`, set by user space) does a SYN also probe `DRAIN_FLOWS` \
         to drop a record of its 5-tuple (a hash of 262,144 buckets: about 200 ns when its \
         bucket is cold, as the first ACK's second-chance probe costs a connection that \
         misses the handshake); the bench's VIPs have none draining. A whole new connection into a \
         full table costs {} ns (`connection_full_net`), {}× the least a miss plus an \
         insert costs (`floor_flow_insert_full`, {} ns); before the defence the SYN alone \
         did the insert and measured 1.17× it (965.1 ns on 2026-11-26): the defence's \
         price is the second miss and the slot, paid once per connection. Run-time \
         statistics: SYN {} ns, first ACK {} ns.",
        med(r, F::NewFlowNet),
        med(r, F::NewFlowFullNet),
        med(r, F::ConfirmNet),
        med(r, F::ConfirmFullNet),
        med(r, F::ConnectionFullNet),
        ratio(r, Ratio::ConnectionFullVsFloorFlowInsertFull),
        med(r, F::FloorFlowInsertFullNet),
        stat(r, F::NewFlowFull),
        stat(r, F::ConfirmFull),
    ));
    md.blank();
    md.line(
        "The lab test `drain_survives_spoofed_syn_and_ack_floods` (in `cargo xtask test`) \
         drains web-2 under hey keep-alive GET, fresh-connection GET and POST load with \
         streams open on web-2, and sends a spoofed SYN flood and a spoofed ACK flood of \
         ten times the flow table (2,048 entries) each, raw frames from the client's \
         namespace; it requires zero failed requests, every stream complete, the drain \
         DRAINED, and the counters to show both floods. The fixture rows of \
         `tests/tests/fixtures/handshakes.rs` pin the rules one packet at a time.",
    );
    md.blank();
    md.line(
        "It used to lose one fresh connection in about one run of five on a loaded \
         machine (\"connect: connection reset by peer\"). Captures of the client and \
         backends' segment and dumps of `DRAIN_FLOWS` showed the mechanism: the \
         fresh-connection load reuses client ports within a run; a connection on web-2 \
         just before the drain was recorded in `DRAIN_FLOWS`, its entry was evicted from \
         the small table before user space saw it close (user space then keeps such a \
         record until it idles out), and 8 s later a new connection on the same port was \
         picked web-3 by its SYN, but its first ACK took the second chance (checked before \
         the handshake) to web-2, which answered with a reset. Neither flood was the cause, \
         they only churned the table faster. The order and the SYN's drop of the record \
         fix it (fixture rows fail without either).",
    );
    md.blank();
}
