//! The `lb` daemon and CLI, as a library so the integration tests can drive the
//! same code the binary runs.

pub mod api;
pub mod config;
pub mod dataplane;
pub mod maglev;
pub mod cli;
pub mod metrics;
pub mod daemon;
