//! Who writes under a lease: the name and lease id that keys written under
//! a node's lease carry. Apart from `lease` (which keeps the lease alive) so
//! that the store and the claim can take any holder without depending on
//! the keepalive.

use super::model::NodeName;

/// What keys written under a node's lease need: its name and lease id.
pub trait LeaseHolder {
    fn node(&self) -> &NodeName;
    fn id(&self) -> i64;
}

/// A copy of a live registration's name and lease id, for tasks other than
/// the lease's owner (the claim of a shutdown action).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaseRef {
    pub node: NodeName,
    pub id: i64,
}

impl LeaseHolder for LeaseRef {
    fn node(&self) -> &NodeName {
        &self.node
    }
    fn id(&self) -> i64 {
        self.id
    }
}
