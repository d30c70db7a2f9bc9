//! Which kernel driver runs an interface (what `ethtool -i` prints), so that
//! `xdp_mode = "auto"` can avoid a native mode that attaches but would not
//! forward.

use std::os::fd::AsRawFd as _;

/// `SIOCETHTOOL` and `ETHTOOL_GDRVINFO` from <linux/sockios.h> and
/// <linux/ethtool.h>.
const SIOCETHTOOL: libc::c_ulong = 0x8946;
const ETHTOOL_GDRVINFO: u32 = 0x0000_0003;

/// `struct ethtool_drvinfo`: only `driver` is read; the rest sizes the buffer
/// the kernel fills.
#[repr(C)]
struct DrvInfo {
    cmd: u32,
    driver: [u8; 32],
    version: [u8; 32],
    fw_version: [u8; 32],
    bus_info: [u8; 32],
    erom_version: [u8; 32],
    reserved2: [u8; 12],
    n_priv_flags: u32,
    n_stats: u32,
    testinfo_len: u32,
    eedump_len: u32,
    regdump_len: u32,
}

/// `struct ifreq` as `SIOCETHTOOL` reads it: a name and a pointer to the
/// command, padded to the union's full size.
#[repr(C)]
struct IfReq {
    name: [u8; libc::IFNAMSIZ],
    data: *mut DrvInfo,
    _pad: [u8; 16],
}

/// The driver behind `interface` in the current network namespace, or `None`
/// when the kernel does not say (no such interface, or a driver without
/// ethtool support).
pub fn driver_of(interface: &str) -> Option<String> {
    let name = interface.as_bytes();
    if name.is_empty() || name.len() >= libc::IFNAMSIZ {
        return None;
    }
    let socket = nix::sys::socket::socket(
        nix::sys::socket::AddressFamily::Inet,
        nix::sys::socket::SockType::Datagram,
        nix::sys::socket::SockFlag::SOCK_CLOEXEC,
        None,
    )
    .ok()?;
    // SAFETY: DrvInfo is plain integers and bytes; all zeroes is valid.
    let mut info: DrvInfo = unsafe { std::mem::zeroed() };
    info.cmd = ETHTOOL_GDRVINFO;
    let mut request = IfReq {
        name: [0; libc::IFNAMSIZ],
        data: &raw mut info,
        _pad: [0; 16],
    };
    request.name[..name.len()].copy_from_slice(name);
    // SAFETY: `request` names the interface (NUL-terminated: the name is
    // shorter than IFNAMSIZ) and points at a DrvInfo that outlives the call;
    // the kernel writes at most size_of::<DrvInfo>() bytes there.
    let rc = unsafe { libc::ioctl(socket.as_raw_fd(), SIOCETHTOOL as _, &mut request) };
    if rc != 0 {
        return None;
    }
    let len = info.driver.iter().position(|&b| b == 0).unwrap_or(32);
    Some(String::from_utf8_lossy(&info.driver[..len]).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_or_unknown_interfaces_have_no_driver() {
        assert_eq!(driver_of(""), None);
        assert_eq!(driver_of("a-name-longer-than-ifnamsiz"), None);
        assert_eq!(driver_of("lb-no-such-if0"), None);
    }
}
