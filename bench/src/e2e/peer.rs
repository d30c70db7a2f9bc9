//! Native-mode XDP_TX on a veth needs an XDP program on the peer veth
//! (docs/toolchain.md): `lb-bench-ebpf`'s `xdp_pass`, attached in driver
//! mode to the bridge port of the LB (`sw-lb`, in the lab's switch
//! namespace) while native runs last, detached when this value drops.

use std::{fs::File, thread};

use anyhow::{Context as _, Result, anyhow};
use aya::{
    Ebpf, EbpfLoader,
    programs::{Xdp, XdpMode, xdp::XdpLinkId},
};
use nix::sched::{CloneFlags, setns};

/// The reference programs' object (as `dataplane::setup` embeds it).
static REFS: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/lb-bench-ebpf"));
const PROG: &str = "xdp_pass";
/// The LB's port on the lab's bridge.
pub const PORT: &str = "sw-lb";

pub struct PeerPass {
    ebpf: Ebpf,
    link: Option<XdpLinkId>,
    id: u32,
}

impl PeerPass {
    /// Loads `xdp_pass` and attaches it natively to [`PORT`] inside the
    /// switch namespace `ns_path` (/run/netns/NAME).
    pub fn attach(ns_path: &std::path::Path) -> Result<Self> {
        let mut ebpf = EbpfLoader::new()
            // Small tables: only the empty program is used.
            .map_max_entries("FLOWS_COMMON", 1024)
            .map_max_entries("FLOWS_PCPU", 1024)
            .load(REFS)
            .context("loading lb-bench-ebpf")?;
        let prog: &mut Xdp = ebpf
            .program_mut(PROG)
            .context("no xdp_pass in lb-bench-ebpf")?
            .try_into()?;
        prog.load().context("loading xdp_pass")?;
        let id = prog.info()?.id();
        // The interface lives in the switch namespace: look it up and attach
        // from a thread that entered it (the attachment outlives the thread).
        let link = thread::scope(|s| {
            s.spawn(|| -> Result<XdpLinkId> {
                let f = File::open(ns_path)
                    .with_context(|| format!("opening {}", ns_path.display()))?;
                setns(&f, CloneFlags::CLONE_NEWNET).context("setns into the switch namespace")?;
                prog.attach(PORT, XdpMode::Driver)
                    .with_context(|| format!("attaching xdp_pass natively to {PORT}"))
            })
            .join()
            .map_err(|_| anyhow!("attaching thread panicked"))?
        })?;
        Ok(Self {
            ebpf,
            link: Some(link),
            id,
        })
    }

    /// The program's id (for its run-time statistics).
    pub fn id(&self) -> u32 {
        self.id
    }
}

impl Drop for PeerPass {
    fn drop(&mut self) {
        if let (Some(link), Some(p)) = (self.link.take(), self.ebpf.program_mut(PROG)) {
            let p: Result<&mut Xdp, _> = p.try_into();
            if let Ok(p) = p {
                let _ = p.detach(link);
            }
        }
    }
}
