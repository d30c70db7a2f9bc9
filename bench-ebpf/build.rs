//! Rebuild when the BPF linker changes: cargo cannot see it as a dependency.
fn main() {
    if let Ok(linker) = which::which("bpf-linker") {
        println!("cargo:rerun-if-changed={}", linker.display());
    }
}
