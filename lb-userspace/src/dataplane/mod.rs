//! Ownership of the XDP program and its maps: load and attach a fresh data
//! plane, or adopt the one a previous daemon pinned, so that restarting or
//! upgrading the daemon never touches traffic.

pub mod adopt;
pub mod attach;
pub mod batch;
pub mod drain_import;
pub mod driver;
pub mod flow_scan;
pub mod flows;
pub mod link_info;
pub mod load;
pub mod map_source;
pub mod maps;
pub mod nat;
pub mod nat_guard;
pub mod object;
pub mod pins;

use std::path::Path;

use anyhow::Context as _;
use aya::{maps::MapInfo, programs::links::PinnedLink};
use lb_common::maps as names;

use self::{
    adopt::ProgramState,
    attach::{Attached, Requested},
    load::Sizes,
    maps::Maps,
    pins::PinDir,
};

/// A running data plane: attached, pinned, with typed map handles.
pub struct Dataplane {
    pub maps: Maps,
    /// The sizes the maps were created with (for an adopted data plane, the
    /// pinned ones, whatever the config says now).
    pub sizes: Sizes,
    /// True when this process adopted pins instead of loading.
    pub adopted: bool,
    pub pins: PinDir,
    /// The program on the link, and what this daemon did to it at start.
    pub program: ProgramState,
    /// Held so the pin's fd stays open; the pin keeps the program attached.
    _link: PinnedLink,
}

/// How to open a data plane.
pub struct OpenOptions<'a> {
    pub interface: &'a str,
    pub requested: Requested,
    pub pin_root: &'a Path,
    pub sizes: Sizes,
}

impl Dataplane {
    /// Adopts the data plane pinned for the interface, or loads, attaches and
    /// pins a new one. The second element says which XDP mode a fresh attach
    /// got (None when adopted as it was: the mode is whatever the first
    /// daemon got).
    pub fn open(opts: &OpenOptions<'_>) -> anyhow::Result<(Self, Option<Attached>)> {
        let pins = PinDir::new(opts.pin_root, opts.interface);
        pins::check_bpffs(opts.pin_root).map_err(anyhow::Error::msg)?;
        if pins.has_link() {
            let (mut adopted, attached) = Self::adopt(pins, opts)?;
            adopted.maps.write_own_mac(opts.interface)?;
            return Ok((adopted, attached));
        }
        // A directory without a link is what a load that died half-way leaves.
        pins.remove_all()
            .with_context(|| format!("clearing incomplete pins in {}", pins.0.display()))?;
        let (mut dataplane, attached) = Self::load_and_pin(pins, opts)?;
        dataplane.maps.write_own_mac(opts.interface)?;
        Ok((dataplane, Some(attached)))
    }

    fn adopt(pins: PinDir, opts: &OpenOptions<'_>) -> anyhow::Result<(Self, Option<Attached>)> {
        let wanted = &opts.sizes;
        adopt::check_layout(&pins)?;
        let max_entries = |name: &str| -> anyhow::Result<u32> {
            Ok(MapInfo::from_pin(pins.map(name))
                .with_context(|| format!("opening pinned map {}", pins.map(name).display()))?
                .max_entries())
        };
        let max_vips = max_entries(names::MAGLEV_LIVE_HALF)?;
        let sizes = Sizes {
            max_vips,
            max_backends: max_entries(names::BACKENDS)?,
            max_flows: max_entries(names::FLOWS)?,
            max_drain_flows: max_entries(names::DRAIN_FLOWS)?,
            maglev_size: max_entries(names::MAGLEV)? / (2 * max_vips.max(1)),
        };
        if sizes != *wanted {
            tracing::warn!(
                pinned = ?sizes,
                configured = ?wanted,
                "the pinned data plane was sized differently; keeping the pinned sizes \
                 (resizing needs `lb teardown` and a fresh start, which drops flows)"
            );
        }
        let (program, attached) =
            adopt::settle_link(&pins, &sizes, opts.interface, opts.requested)?;
        let link = PinnedLink::from_pin(pins.link()).with_context(|| {
            format!(
                "opening the pinned XDP link {}; if it is stale, `lb teardown` removes it",
                pins.link().display()
            )
        })?;
        let mut maps = Maps::from_pins(&pins.0, sizes.maglev_size)?;
        maps.nat = Some(nat::NatMaps::from_pins(&pins.0)?);
        tracing::info!(
            dir = %pins.0.display(),
            tag = program.tag,
            link = ?program.plan,
            "adopted the pinned data plane; flows kept"
        );
        Ok((
            Self {
                maps,
                sizes,
                adopted: true,
                pins,
                program,
                _link: link,
            },
            attached,
        ))
    }

    fn load_and_pin(pins: PinDir, opts: &OpenOptions<'_>) -> anyhow::Result<(Self, Attached)> {
        let mut ebpf = load::load(&opts.sizes)?;
        std::fs::create_dir_all(&pins.0)
            .with_context(|| format!("creating {}", pins.0.display()))?;
        // Only the maps the program names; its `.rodata` (the load-time
        // globals) is frozen and lives as long as the program.
        for name in names::ALL {
            let map = ebpf
                .map(name)
                .with_context(|| format!("the embedded object has no map {name}"))?;
            map.pin(pins.map(name))
                .with_context(|| format!("pinning map {name} in {}", pins.0.display()))?;
        }
        let mut maps = Maps::take(&mut ebpf, opts.sizes.maglev_size)?;
        // From the pins made above: the loaded object keeps its NAT maps.
        maps.nat = Some(nat::NatMaps::from_pins(&pins.0)?);
        let prog = load::verified_program(&mut ebpf)?;
        let program = ProgramState {
            tag: adopt::hex_tag(prog.info().context("reading the program's info")?.tag()),
            plan: None,
            previous_tag: None,
        };
        pins.mark_layout(lb_common::maps::MAPS_LAYOUT_VERSION)
            .with_context(|| format!("recording the layout version in {}", pins.0.display()))?;
        let (link, attached) = attach::attach(prog, opts.interface, opts.requested)?;
        // Pinned last: from here on a restarted daemon adopts instead of loading.
        let link = link
            .pin(pins.link())
            .with_context(|| format!("pinning the XDP link at {}", pins.link().display()))?;
        tracing::info!(
            interface = opts.interface,
            mode = attached.as_str(),
            dir = %pins.0.display(),
            "XDP program attached and pinned"
        );
        Ok((
            Self {
                maps,
                sizes: opts.sizes,
                adopted: false,
                pins,
                program,
                _link: link,
            },
            attached,
        ))
    }

    /// Detaches the program and removes every pin. Flows are lost.
    pub fn teardown(self) -> anyhow::Result<Vec<String>> {
        let Self {
            pins,
            _link: link,
            maps,
            ..
        } = self;
        drop(maps);
        // Unpinning and dropping the last fd detaches the program.
        let link = link.unpin().context("unpinning the XDP link")?;
        drop(link);
        let mut removed = vec![pins::LINK.to_string()];
        removed.extend(pins.remove_all().context("removing map pins")?);
        Ok(removed)
    }
}

/// Removes the data plane pinned for `interface` without a running daemon.
pub fn teardown_pins(pin_root: &Path, interface: &str) -> anyhow::Result<Vec<String>> {
    PinDir::new(pin_root, interface)
        .remove_all()
        .context("removing pins")
}
