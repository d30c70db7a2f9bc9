//! Attaching the program to an interface, in the mode the config asks for.

use aya::programs::{Xdp, XdpMode, links::FdLink};

/// The mode the config asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Requested {
    /// Native if the driver supports it, else generic; generic on a veth,
    /// where native XDP_TX needs a program on the peer.
    Auto,
    Native,
    Generic,
}

/// The mode the program runs in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Attached {
    Native,
    Generic,
}

impl Attached {
    pub fn as_str(self) -> &'static str {
        match self {
            Attached::Native => "native",
            Attached::Generic => "generic",
        }
    }
}

/// Attaches `prog` to `interface` and hands back the link as an `FdLink`, ready
/// to pin (a pinned link outlives the daemon).
pub fn attach(
    prog: &mut Xdp,
    interface: &str,
    requested: Requested,
) -> anyhow::Result<(FdLink, Attached)> {
    let tries: &[(XdpMode, Attached)] = match requested {
        Requested::Auto if super::driver::driver_of(interface).as_deref() == Some("veth") => {
            // A veth accepts a native program, but its XDP_TX frames are
            // dropped unless the peer has an XDP program too, and frames from
            // a local sender lose their checksum-offload mark: native would
            // attach and black-hole every VIP connection. Generic forwards.
            tracing::info!(
                interface,
                "xdp_mode auto: {interface} is a veth, using generic mode \
                 (set xdp_mode = \"native\" if the peer veth runs an XDP program)"
            );
            &[(XdpMode::Skb, Attached::Generic)]
        }
        Requested::Auto => &[
            (XdpMode::Driver, Attached::Native),
            (XdpMode::Skb, Attached::Generic),
        ],
        Requested::Native => &[(XdpMode::Driver, Attached::Native)],
        Requested::Generic => &[(XdpMode::Skb, Attached::Generic)],
    };
    let mut last_error = None;
    for &(mode, attached) in tries {
        match prog.attach(interface, mode) {
            Ok(id) => {
                let link = prog.take_link(id)?;
                let link = FdLink::try_from(link).map_err(|e| {
                    anyhow::anyhow!(
                        "the kernel attached {interface} without a BPF link ({e}); \
                         lb needs kernel 5.9 or later to pin the attachment"
                    )
                })?;
                return Ok((link, attached));
            }
            Err(e) => {
                tracing::info!(interface, mode = attached.as_str(), error = %e, "attach failed");
                last_error = Some(e);
            }
        }
    }
    let e = last_error.expect("at least one mode is tried");
    Err(anyhow::Error::new(e).context(format!(
        "attaching XDP to {interface} ({requested:?} mode); is another XDP program attached? \
         (`ip link show {interface}`)"
    )))
}
