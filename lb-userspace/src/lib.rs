//! The `lb` daemon and CLI, as a library so the integration tests can drive the
//! same code the binary runs.

pub mod dataplane;
