//! Ownership of the XDP program and its maps.

pub mod object;
