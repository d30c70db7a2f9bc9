//! Adopting a pinned data plane, which is what makes a daemon restart or an
//! upgrade hitless: the maps (and every flow in them) are kept, and the XDP
//! link is checked before it is trusted.
//!
//! - The maps' layout version kept with the pins must be this binary's, or its
//!   program would read them wrongly: adoption is refused with what to do.
//! - The link must be attached to the configured interface (by index, in this
//!   network namespace). An interface deleted and recreated (its namespace or
//!   NIC replaced) leaves a pinned link attached to nothing, and a daemon that
//!   believed it would black-hole the VIP: the program is attached again.
//! - A binary whose program differs (another tag) replaces the program on the
//!   pinned link atomically (`BPF_LINK_UPDATE`): no packet meets no program.

use std::{os::fd::AsFd as _, path::Path};

use anyhow::Context as _;
use aya::programs::{
    links::{FdLink, PinnedLink},
    xdp::XdpLink,
};
use lb_common::maps::MAPS_LAYOUT_VERSION;

use super::{
    attach::{self, Attached, Requested},
    link_info::{self, XdpLinkInfo},
    load::{self, Sizes},
    pins::PinDir,
};

/// What adoption did with the pinned link.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Plan {
    /// Attached where it should be, running this binary's program: untouched.
    Keep,
    /// Attached where it should be, running another program: replaced on the
    /// link (an upgrade, or a downgrade).
    Replace,
    /// Attached to nothing, or to another interface: the program is attached
    /// to the configured interface with a new link, pinned in its place.
    Reattach,
}

/// The pure decision: from where the link is, where it should be, and the
/// tags of the running program and of this binary's.
pub fn plan(link: &XdpLinkInfo, configured_ifindex: u32, running_tag: u64, own_tag: u64) -> Plan {
    if link.ifindex != configured_ifindex {
        Plan::Reattach
    } else if running_tag != own_tag {
        Plan::Replace
    } else {
        Plan::Keep
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AdoptError {
    #[error(
        "the data plane pinned in {dir} has map layout version {pinned}, this lb binary \
         has version {binary}: its maps cannot be kept. Either run the lb version that \
         made them, or accept losing every connection: `lb teardown` (or remove {dir}), \
         then start this daemon again"
    )]
    Layout {
        dir: String,
        pinned: u32,
        binary: u32,
    },
    #[error(
        "interface {0} does not exist in this network namespace: the pinned data plane \
         cannot be attached to it (its maps and flows are kept; start the daemon again \
         once the interface is back)"
    )]
    NoInterface(String),
}

/// The program running on the link once adoption is over.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProgramState {
    /// The kernel's tag (a hash of the instructions), as 16 hex digits.
    pub tag: String,
    /// What this daemon did to the link at start.
    pub plan: Option<Plan>,
    /// The tag of the program this daemon found running, when it replaced it.
    pub previous_tag: Option<String>,
}

impl ProgramState {
    /// `Status::program_at_start`.
    pub fn at_start(&self) -> &'static str {
        match self.plan {
            None => "loaded",
            Some(Plan::Keep) => "kept",
            Some(Plan::Replace) => "replaced",
            Some(Plan::Reattach) => "reattached",
        }
    }
}

pub fn hex_tag(tag: u64) -> String {
    format!("{tag:016x}")
}

/// Refuses pins whose maps have another layout than this binary's; marks
/// pins made before the version was recorded.
pub fn check_layout(pins: &PinDir) -> anyhow::Result<()> {
    let pinned = pins
        .layout_version()
        .with_context(|| format!("reading {}", pins.0.display()))?;
    if pinned != MAPS_LAYOUT_VERSION {
        return Err(AdoptError::Layout {
            dir: pins.0.display().to_string(),
            pinned,
            binary: MAPS_LAYOUT_VERSION,
        }
        .into());
    }
    pins.mark_layout(MAPS_LAYOUT_VERSION)
        .with_context(|| format!("recording the layout version in {}", pins.0.display()))
}

/// Checks the pinned link and brings it in line: kept, program replaced, or
/// program attached again. Returns the program state and, when attached
/// again, the mode it got.
pub fn settle_link(
    pins: &PinDir,
    sizes: &Sizes,
    interface: &str,
    requested: Requested,
) -> anyhow::Result<(ProgramState, Option<Attached>)> {
    let link_fd = link_info::open_pinned(&pins.link())
        .with_context(|| format!("opening the pinned XDP link {}", pins.link().display()))?;
    let link = link_info::xdp_link_info(link_fd.as_fd()).context("reading the XDP link's info")?;
    let running_tag = link_info::prog_tag(link_fd.as_fd())
        .context("reading the tag of the pinned link's program")?;
    drop(link_fd);
    let configured = link_info::ifindex_of(interface)
        .ok_or_else(|| AdoptError::NoInterface(interface.into()))?;

    // This binary's program, on the pinned maps: the kernel computes its tag
    // only once it is loaded (and the verifier has run).
    let mut ebpf = load::load_on_pins(sizes, pins)?;
    let prog = load::verified_program(&mut ebpf)?;
    let own_tag = prog
        .info()
        .context("reading the loaded program's info")?
        .tag();

    let plan = plan(&link, configured, running_tag, own_tag);
    let mut state = ProgramState {
        tag: hex_tag(running_tag),
        plan: Some(plan),
        previous_tag: None,
    };
    let mut attached = None;
    match plan {
        Plan::Keep => {}
        Plan::Replace => {
            let pinned = PinnedLink::from_pin(pins.link())
                .with_context(|| format!("opening {}", pins.link().display()))?;
            let xdp_link = XdpLink::try_from(FdLink::from(pinned))
                .context("the pinned link is not an XDP link")?;
            prog.attach_to_link(xdp_link)
                .context("replacing the program on the pinned link (BPF_LINK_UPDATE)")?;
            state.previous_tag = Some(hex_tag(running_tag));
            state.tag = hex_tag(own_tag);
            tracing::info!(
                previous_tag = hex_tag(running_tag),
                tag = hex_tag(own_tag),
                "replaced the XDP program on the pinned link atomically (BPF_LINK_UPDATE); \
                 maps and flows kept"
            );
        }
        Plan::Reattach => {
            tracing::warn!(
                interface,
                ifindex = configured,
                link_ifindex = link.ifindex,
                "the pinned XDP link is not attached to {interface} (ifindex {} instead of \
                 {configured}: the interface was deleted or recreated); attaching the \
                 program to {interface} again with the pinned maps, flows kept",
                link.ifindex
            );
            let (fd_link, mode) = attach::attach(prog, interface, requested)?;
            repin(pins, fd_link)?;
            if running_tag != own_tag {
                state.previous_tag = Some(hex_tag(running_tag));
            }
            state.tag = hex_tag(own_tag);
            attached = Some(mode);
        }
    }
    Ok((state, attached))
}

/// Pins `link` in place of the pinned one: at `link-new` first, then renamed
/// over `link`, so a daemon that dies half-way still finds a link to adopt.
fn repin(pins: &PinDir, link: FdLink) -> anyhow::Result<()> {
    let staged = pins.link_new();
    remove_if_there(&staged)?;
    let pinned = link
        .pin(&staged)
        .with_context(|| format!("pinning the new XDP link at {}", staged.display()))?;
    std::fs::rename(&staged, pins.link()).with_context(|| {
        format!(
            "renaming {} over {}",
            staged.display(),
            pins.link().display()
        )
    })?;
    // The pin holds the link now; this fd may go.
    drop(pinned);
    Ok(())
}

fn remove_if_there(path: &Path) -> anyhow::Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(anyhow::Error::new(e).context(format!("removing {}", path.display()))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(ifindex: u32) -> XdpLinkInfo {
        XdpLinkInfo {
            link_id: 7,
            prog_id: 42,
            ifindex,
        }
    }

    #[test]
    fn the_link_is_kept_replaced_or_attached_again() {
        assert_eq!(plan(&link(3), 3, 0xaa, 0xaa), Plan::Keep);
        assert_eq!(plan(&link(3), 3, 0xaa, 0xbb), Plan::Replace);
        assert_eq!(
            plan(&link(0), 3, 0xaa, 0xaa),
            Plan::Reattach,
            "detached: its interface went away"
        );
        assert_eq!(
            plan(&link(2), 3, 0xaa, 0xbb),
            Plan::Reattach,
            "another interface: attach, whatever the program"
        );
    }

    #[test]
    fn tags_print_as_bpftool_does() {
        assert_eq!(hex_tag(0x00ab_cdef_0123_4567), "00abcdef01234567");
    }
}
