//! The DNAT fixtures' additions to the NAT ones (`nat.rs`): a backend that
//! forwards by DNAT, and its port marked as one replies may come from. The
//! namespace, the runner and the checksum verifier are NAT's.

use std::net::IpAddr;

use anyhow::Result;
use lb_common::{
    addr::from_ip,
    backend::Backend,
    maps::{VIP_PORT_DNAT_TCP, VIP_PORT_DNAT_UDP},
    nat::FORWARD_DNAT,
    vip::PROTO_TCP,
};

use crate::dataplane::Dataplane;

/// Backend `id` at `addr:port` of a DNAT VIP of protocol `proto`, in
/// `state`; its port is marked in `VIP_PORTS` as user space does.
pub fn set_backend(
    dp: &mut Dataplane,
    id: u32,
    addr: IpAddr,
    port: u16,
    proto: u8,
    state: u8,
) -> Result<()> {
    let b = Backend {
        addr: from_ip(addr),
        mac: [0; 6],
        state,
        forward: FORWARD_DNAT,
        weight: 1,
        port_be: port.to_be(),
        _pad: [0; 2],
    };
    dp.maps.backends.set(id, b, 0)?;
    let bit = if proto == PROTO_TCP {
        VIP_PORT_DNAT_TCP
    } else {
        VIP_PORT_DNAT_UDP
    };
    let bits = dp.maps.vip_ports.get(&u32::from(port), 0)?;
    Ok(dp.maps.vip_ports.set(u32::from(port), bits | bit, 0)?)
}
