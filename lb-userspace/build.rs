//! Builds the XDP program (`lb-ebpf`) into OUT_DIR; `src/dataplane/object.rs`
//! embeds it.
fn main() -> anyhow::Result<()> {
    // Cargo sets CARGO_FEATURE_<NAME> for the build script of a crate built
    // with that feature; the eBPF crate is a separate cargo invocation, so the
    // feature is forwarded by hand.
    let features: &[&str] = if std::env::var_os("CARGO_FEATURE_TEST_UPGRADE").is_some() {
        &["test-upgrade"]
    } else {
        &[]
    };
    lb_ebpf_build::build_with_features("lb-ebpf", features)
}
