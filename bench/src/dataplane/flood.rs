//! The flood defence: its design (bench/templates/dataplane_flood.md), and
//! what it costs a new connection.

use super::{
    figure::{Figure as F, Ratio},
    lookup::{med, ratio, stat},
    report::Report,
};
use crate::{report::Md, template::fill};

pub fn render_flood_defence(r: &Report, md: &mut Md) {
    md.0.push_str(&fill(
        include_str!("../../templates/dataplane_flood.md"),
        &[
            ("new_flow_net", med(r, F::NewFlowNet)),
            ("new_flow_full_net", med(r, F::NewFlowFullNet)),
            ("confirm_net", med(r, F::ConfirmNet)),
            ("confirm_full_net", med(r, F::ConfirmFullNet)),
            ("connection_full_net", med(r, F::ConnectionFullNet)),
            (
                "connection_full_vs_insert",
                ratio(r, Ratio::ConnectionFullVsFloorFlowInsertFull),
            ),
            (
                "floor_flow_insert_full_net",
                med(r, F::FloorFlowInsertFullNet),
            ),
            ("syn_stats", stat(r, F::NewFlowFull)),
            ("ack_stats", stat(r, F::ConfirmFull)),
        ],
    ));
}
