//! A fleet of lb nodes (docs/fleet.md): the state they share in etcd and the
//! BGP announcement of their VIPs.
//!
//! - [`model`]: the typed values etcd holds (JSON), node names, key prefix;
//! - [`keys`]: the key layout, built and parsed in one place;
//! - [`store`]: [`FleetStore`], admin states (put, read, watch), node
//!   reports and the fleet-wide view;
//! - [`lease`]: node registration under an etcd lease, kept alive;
//! - [`holder`]: the name and lease id that keys under a lease carry;
//! - [`claim`]: "the shutdown action runs once": an etcd transaction, with
//!   takeover when the winner's lease expires;
//! - [`drain_set`], [`drain_set_store`]: each node's drain set, encoded
//!   compactly and shared through etcd;
//! - [`decide`]: fleet-wide decisions as pure functions (drain completion);
//! - [`bgp`]: VIP announcement through BIRD 2.
//!
//! The daemon wires it in through `daemon::fleet_agent` (etcd) and
//! `daemon::fleet_core` (the core loop's side).

pub mod bgp;
pub mod claim;
pub mod decide;
pub mod drain_set;
pub mod drain_set_store;
pub mod holder;
pub mod keys;
pub mod lease;
pub mod model;
pub mod store;

pub use claim::ClaimOutcome;
pub use holder::{LeaseHolder, LeaseRef};
pub use lease::{LeaseState, NodeLease};
pub use store::{AdminEvent, AdminWatch, FleetStore, StoreError};
