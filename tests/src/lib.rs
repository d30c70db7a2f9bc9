//! Shared harness of the root-only integration tests: a packet builder, the XDP
//! program under BPF_PROG_TEST_RUN with map helpers, fixture rows and their
//! runner, and network namespaces for end-to-end runs.

pub mod counters;
pub mod dataplane;
pub mod dnat;
pub mod flood;
pub mod fuzz;
pub mod lab_support;
pub mod nat;
pub mod netns;
pub mod packet;
pub mod rng;
pub mod server;
pub mod standard;
pub mod table;
