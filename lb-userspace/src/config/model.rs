//! The validated configuration: what the rest of the daemon reads.
//!
//! Every value here has passed [`super::validate`]; defaults are filled in, so
//! users of these types never re-check or re-default anything.

use std::{
    fmt,
    net::{IpAddr, SocketAddr},
    path::PathBuf,
    time::Duration,
};

use serde::Deserialize;

/// Default control socket (also the CLI's `--socket` default).
pub const DEFAULT_SOCKET: &str = "/run/lb/lb.sock";
/// Default bpffs directory; pins go to `<pin_root>/<interface>/`.
pub const DEFAULT_PIN_ROOT: &str = "/sys/fs/bpf/lb";
/// Where the default state file of each interface goes:
/// `<DEFAULT_STATE_DIR>/<interface>/state.json` (drains in progress, admin
/// states, kept across restarts), so daemons on two interfaces never share one.
pub const DEFAULT_STATE_DIR: &str = "/var/lib/lb";
pub const DEFAULT_FLOW_IDLE_TIMEOUT: Duration = Duration::from_mins(2);
pub const DEFAULT_UDP_IDLE_TIMEOUT: Duration = Duration::from_secs(30);
// The map sizes' defaults (`max_flows`, `max_vips`, ...) are the data
// plane's own, in `lb_common::maps` and `lb_common::maglev`.
pub const DEFAULT_HEALTH_CONCURRENCY: usize = 64;
pub const DEFAULT_WEIGHT: u32 = 1;
/// Largest backend weight: keeps weighted Maglev shares meaningful at M = 65537.
pub const MAX_WEIGHT: u32 = 1000;
pub const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(30);
pub const DEFAULT_SIGNAL_DELAY: Duration = Duration::from_secs(1);
pub const DEFAULT_HEALTH_PATH: &str = "/health";
pub const DEFAULT_HEALTH_INTERVAL: Duration = Duration::from_secs(1);
pub const DEFAULT_HEALTH_TIMEOUT: Duration = Duration::from_millis(500);
pub const DEFAULT_HEALTH_RISE: u32 = 2;
pub const DEFAULT_HEALTH_FALL: u32 = 3;
pub const DEFAULT_HTTP_METHOD: &str = "POST";

/// The whole file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// `[daemon]`.
    pub daemon: DaemonConfig,
    /// `[[vip]]`, in file order.
    pub vips: Vec<VipConfig>,
    /// `[cluster]`: None for a single node (docs/fleet.md).
    pub cluster: Option<super::cluster::ClusterConfig>,
    /// The NAT sources and ports resolved on the host (`refs::load_on_host`);
    /// empty when the file was only parsed.
    pub nat: NatHost,
}

impl Config {
    /// The VIP named `name`.
    pub fn vip(&self, name: &str) -> Option<&VipConfig> {
        self.vips.iter().find(|v| v.name == name)
    }

    /// The backend named `name` (names are unique across VIPs) and its VIP.
    pub fn backend(&self, name: &str) -> Option<(&VipConfig, &BackendConfig)> {
        self.backends().find(|(_, b)| b.name == name)
    }

    /// Every backend with its VIP, in file order.
    pub fn backends(&self) -> impl Iterator<Item = (&VipConfig, &BackendConfig)> {
        self.vips
            .iter()
            .flat_map(|v| v.backends.iter().map(move |b| (v, b)))
    }
}

/// What NAT uses on this host, resolved where the interface is known.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NatHost {
    /// The source addresses NAT'd connections use, of each family some NAT
    /// VIP needs (IPv4 first, then IPv6, each in file order); empty without
    /// a NAT VIP.
    pub sources: Vec<IpAddr>,
    /// The source ports handed out, `port_min..=port_max`: outside the
    /// kernel's ephemeral range, so a translation never takes the 4-tuple of
    /// one of the host's own connections (health checks go to the same
    /// backends from the same address). 0..=0 without a NAT VIP.
    pub port_min: u16,
    pub port_max: u16,
}

impl NatHost {
    /// The sources of `addr`'s family.
    pub fn of_family(&self, addr: IpAddr) -> impl Iterator<Item = IpAddr> + '_ {
        self.sources
            .iter()
            .copied()
            .filter(move |a| a.is_ipv4() == addr.is_ipv4())
    }
}

/// `[daemon]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DaemonConfig {
    /// NIC the XDP program attaches to.
    pub interface: String,
    pub xdp_mode: XdpMode,
    /// Control API socket.
    pub socket: PathBuf,
    /// bpffs directory for pinned maps and link (one subdirectory per interface).
    pub pin_root: PathBuf,
    /// Prometheus endpoint; none if absent.
    pub metrics: Option<SocketAddr>,
    /// A TCP flow idle this long no longer counts as in flight.
    pub flow_idle_timeout: Duration,
    /// A UDP flow is live until idle this long.
    pub udp_idle_timeout: Duration,
    /// Entries of the `FLOWS` LRU map.
    pub max_flows: u32,
    /// Entries of the table recording draining backends' connections.
    pub max_drain_flows: u32,
    /// VIP slots in the maps (also the number of Maglev tables).
    pub max_vips: u32,
    /// Backend slots in the maps, across all VIPs.
    pub max_backends: u32,
    /// Slots per Maglev table half; prime.
    pub maglev_size: u32,
    pub state_file: PathBuf,
    /// Health checks in flight at once.
    pub health_concurrency: usize,
    /// An optional second control socket that serves reads only (mode 0660).
    pub read_only_socket: Option<PathBuf>,
    /// The group that owns the read-only socket (a name), if not the daemon's.
    pub read_only_socket_group: Option<String>,
    /// `nat_source` as written: the addresses NAT'd connections come from,
    /// in file order. Empty: the interface's first address of each family,
    /// resolved where the interface is known ([`super::nat::resolve`]).
    pub nat_source: Vec<IpAddr>,
}

/// How the XDP program is attached.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum XdpMode {
    /// Native (driver) mode if the driver has it, else generic.
    #[default]
    Auto,
    Native,
    Generic,
}

/// `[[vip]]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VipConfig {
    pub name: String,
    pub address: IpAddr,
    /// Never 0.
    pub port: u16,
    pub protocol: Protocol,
    pub forward: Forward,
    /// `[[vip.backend]]`, in file order; may be empty (packets are dropped).
    pub backends: Vec<BackendConfig>,
}

/// How a VIP's packets reach its backends (docs/forwarding.md).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Forward {
    /// L2 direct server return: the backend holds the VIP and replies to the
    /// client itself.
    #[default]
    Dsr,
    /// Both directions translated in XDP: the backend sees `nat_source`.
    Nat,
    /// Only the destination translated: the backend sees the client, and
    /// its replies must come back through the balancer (its gateway).
    Dnat,
}

impl Forward {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Dsr => "dsr",
            Self::Nat => "nat",
            Self::Dnat => "dnat",
        }
    }

    /// NAT or DNAT: the backend is reached through the kernel's FIB at its
    /// own port, and its replies come back through the balancer.
    pub const fn translates(self) -> bool {
        matches!(self, Self::Nat | Self::Dnat)
    }
}

impl fmt::Display for Forward {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Tcp,
    Udp,
}

impl Protocol {
    /// IANA protocol number, as in `lb_common::vip::VipKey`.
    pub const fn number(self) -> u8 {
        match self {
            Self::Tcp => lb_common::vip::PROTO_TCP,
            Self::Udp => lb_common::vip::PROTO_UDP,
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Tcp => "tcp",
            Self::Udp => "udp",
        })
    }
}

/// `[[vip.backend]]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackendConfig {
    /// Unique across all VIPs: CLI commands address a backend by name alone.
    pub name: String,
    /// Same family as the VIP's address.
    pub address: IpAddr,
    /// The port the backend listens on: `port` on a NAT VIP, else the VIP's.
    pub port: u16,
    /// None: resolved from the neighbour table.
    pub mac: Option<[u8; 6]>,
    /// `1..=MAX_WEIGHT`.
    pub weight: u32,
    /// A drain still running after this long is forced.
    pub drain_timeout: Duration,
    pub health: Option<HealthConfig>,
    pub shutdown: Option<Action>,
    pub shutdown_when: ShutdownWhen,
    /// Wait between the table flip and the shutdown action (`ShutdownWhen::Start`).
    pub signal_delay: Duration,
    /// Notice sent when a drain starts (before any shutdown).
    pub on_drain: Option<Action>,
}

/// When the shutdown action runs during a drain.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ShutdownWhen {
    /// When the drain starts, after `signal_delay`.
    #[default]
    Start,
    /// When the backend's live flows reach zero.
    Idle,
}

/// `health = { ... }`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HealthConfig {
    pub kind: HealthKind,
    /// HTTP only; starts with `/`.
    pub path: String,
    /// None: the backend's port (see [`HealthConfig::port_for`]).
    pub port: Option<u16>,
    pub interval: Duration,
    /// Never zero; may exceed `interval`.
    pub timeout: Duration,
    /// Consecutive successes to come back up; ≥ 1.
    pub rise: u32,
    /// Consecutive failures to go down; ≥ 1.
    pub fall: u32,
    /// What happens to the existing flows of a backend that fails.
    pub on_unhealthy: OnUnhealthy,
}

/// `health.on_unhealthy`: what a failing health check does to the backend's
/// existing flows (new flows stop either way).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnUnhealthy {
    /// Keep them (UNHEALTHY): a backend that stalls for a few seconds
    /// finishes what it has, as with IPVS, HAProxy and Katran.
    #[default]
    Keep,
    /// Move them to other backends on their next packet (DOWN), as `lb
    /// disable` does: every connection of a backend that merely paused breaks.
    Move,
}

impl HealthConfig {
    /// The port to check on the backend: `port`, else the one it serves on
    /// (the VIP's for DSR, `backend.port` for NAT).
    pub fn port_for(&self, backend: &BackendConfig) -> u16 {
        self.port.unwrap_or(backend.port)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HealthKind {
    /// A TCP connect.
    Tcp,
    /// An HTTP GET of `path`; 2xx is healthy.
    Http,
}

/// A shutdown or on-drain action.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Send `signal` to a local process.
    Signal { signal: Signal, target: PidSource },
    /// Run `argv` (no shell); e.g. `ssh host systemctl stop app`.
    Command { argv: Vec<String> },
    /// Send an HTTP request with an empty body.
    Http { url: String, method: String },
}

/// Which process a signal goes to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PidSource {
    /// Never 0 (that would signal the daemon's own process group).
    Pid(u32),
    /// Read when the action runs, so a restarted process is found; absolute.
    PidFile(PathBuf),
}

/// The signals an action may send.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Signal {
    Term,
    Int,
    Quit,
    Hup,
    Kill,
    Usr1,
    Usr2,
}

impl Signal {
    /// Every signal with its name as written in the config (without `SIG`).
    pub const ALL: [(Self, &'static str); 7] = [
        (Self::Term, "TERM"),
        (Self::Int, "INT"),
        (Self::Quit, "QUIT"),
        (Self::Hup, "HUP"),
        (Self::Kill, "KILL"),
        (Self::Usr1, "USR1"),
        (Self::Usr2, "USR2"),
    ];

    /// Parses `TERM` or `SIGTERM` (case-sensitive, as `kill -l` prints them).
    pub fn from_name(name: &str) -> Option<Self> {
        let bare = name.strip_prefix("SIG").unwrap_or(name);
        Self::ALL.iter().find(|(_, n)| *n == bare).map(|(s, _)| *s)
    }

    /// The name without `SIG`.
    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(s, _)| *s == self)
            .map_or("?", |(_, n)| n)
    }

    /// The number for kill(2) on this platform.
    pub const fn number(self) -> i32 {
        match self {
            Self::Term => libc::SIGTERM,
            Self::Int => libc::SIGINT,
            Self::Quit => libc::SIGQUIT,
            Self::Hup => libc::SIGHUP,
            Self::Kill => libc::SIGKILL,
            Self::Usr1 => libc::SIGUSR1,
            Self::Usr2 => libc::SIGUSR2,
        }
    }
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SIG{}", self.name())
    }
}
