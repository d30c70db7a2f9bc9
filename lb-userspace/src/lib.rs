//! The `lb` daemon and CLI, as a library so the integration tests can drive the
//! same code the binary runs.

pub mod api;
pub mod cli;
pub mod cluster;
pub mod config;
pub mod daemon;
pub mod dataplane;
pub mod logging;
pub mod maglev;
pub mod metrics;
