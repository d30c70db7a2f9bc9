//! Connections of a draining backend imported from other nodes' drain sets
//! (docs/fleet.md, "Shared drain sets"), until they show up here. The router
//! moves one here when its node dies or is withdrawn; its next packet takes
//! the second chance and gets an entry in this node's flow table. From then
//! on this node follows it like one of its own (`Tracked`), so the
//! fleet-wide count includes it once its old node's count is gone. An
//! imported connection that never comes here is never counted here: it is
//! its own node's to count.

use lb_common::flow::{FlowInfo, FlowKey};

use super::live::{self, IdleTimeouts, Tracked};
use crate::cluster::model::Revision;

/// Imported connections looked up per tick and backend: the cost of a tick
/// stays bounded however many were imported (a whole pass over 100k takes
/// 25 ticks; a moved connection is counted here within that).
pub const LOOKUPS_PER_TICK: usize = 4096;

#[derive(Clone, Debug)]
pub struct ImportedFlows {
    /// The drain they belong to.
    pub drain: Revision,
    /// Imported and not seen in this node's flow table yet.
    waiting: Vec<FlowKey>,
    /// Where the next tick's lookups start.
    cursor: usize,
    /// Records imported in all.
    pub imported: u64,
    /// Seen here and followed since.
    pub adopted: u64,
}

impl ImportedFlows {
    pub fn new(drain: Revision) -> Self {
        Self {
            drain,
            waiting: Vec::new(),
            cursor: 0,
            imported: 0,
            adopted: 0,
        }
    }

    pub fn add(&mut self, keys: Vec<FlowKey>) {
        self.imported += keys.len() as u64;
        self.waiting.extend(keys);
    }

    /// Looks up to [`LOOKUPS_PER_TICK`] waiting connections in this node's
    /// flow table (`lookup`) and hands those live here on `tracked`'s backend
    /// to `tracked`.
    pub fn adopt(
        &mut self,
        lookup: impl Fn(&FlowKey) -> Option<FlowInfo>,
        tracked: &mut Tracked,
        now: u64,
        idle: IdleTimeouts,
    ) {
        let mut looked = 0;
        while looked < LOOKUPS_PER_TICK.min(self.waiting.len()) {
            if self.cursor >= self.waiting.len() {
                self.cursor = 0;
            }
            let key = self.waiting[self.cursor];
            looked += 1;
            match lookup(&key) {
                Some(info)
                    if info.backend_id == tracked.backend_id()
                        && live::is_live(&key, &info, now, idle) =>
                {
                    tracked.adopt(key, info);
                    self.waiting.swap_remove(self.cursor);
                    self.adopted += 1;
                }
                _ => self.cursor += 1,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use lb_common::flow::FLOW_F_PAYLOAD;

    use super::*;

    const IDLE: IdleTimeouts = IdleTimeouts {
        tcp_ns: 1_000_000,
        udp_ns: 1_000_000,
    };

    fn key(port: u16) -> FlowKey {
        FlowKey {
            sport_be: port,
            proto: lb_common::vip::PROTO_TCP,
            ..FlowKey::default()
        }
    }

    fn on(backend_id: u32) -> FlowInfo {
        FlowInfo {
            backend_id,
            flags: FLOW_F_PAYLOAD,
            last_seen_ns: 100,
            ..FlowInfo::default()
        }
    }

    #[test]
    fn follows_imported_connections_once_they_are_live_here_on_the_backend() {
        let mut tracked = Tracked::from_flows(3, [(key(1), on(3))]);
        let mut imported = ImportedFlows::new(Revision(7));
        imported.add((10..20).map(key).collect());
        // Port 10 moved here (second chance: entry on 3), port 11 is a newer
        // connection picked to 1 here, the rest never came.
        let lookup = |k: &FlowKey| match k.sport_be {
            10 => Some(on(3)),
            11 => Some(on(1)),
            _ => None,
        };
        imported.adopt(lookup, &mut tracked, 100, IDLE);
        assert_eq!(tracked.len(), 2);
        assert_eq!((imported.imported, imported.adopted), (10, 1));
        // Again: nothing new, nothing counted twice.
        imported.adopt(lookup, &mut tracked, 100, IDLE);
        assert_eq!(tracked.len(), 2);
        assert_eq!(imported.waiting.len(), 9);
    }

    #[test]
    fn a_tick_looks_up_a_bounded_number() {
        let mut tracked = Tracked::from_flows(3, []);
        let mut imported = ImportedFlows::new(Revision(7));
        let n = LOOKUPS_PER_TICK as u16 + 10;
        imported.add((0..n).map(key).collect());
        let looked = std::cell::Cell::new(0);
        let lookup = |k: &FlowKey| {
            looked.set(looked.get() + 1);
            (k.sport_be == n - 1).then(|| on(3))
        };
        imported.adopt(lookup, &mut tracked, 100, IDLE);
        assert_eq!(looked.get(), LOOKUPS_PER_TICK);
        assert_eq!(tracked.len(), 0);
        imported.adopt(lookup, &mut tracked, 100, IDLE);
        assert_eq!(tracked.len(), 1, "the next tick goes on where it stopped");
    }
}
