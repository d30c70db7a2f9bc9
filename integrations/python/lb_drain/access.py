"""Who may send the drain notice: loopback and the addresses the operator
lists (the balancer's), nothing else. Anyone else who could reach the
endpoint (a client of the service, through the balancer) could otherwise
make a backend shed its connections."""

from __future__ import annotations

import ipaddress
import os
from typing import Iterable, Optional, Union

#: Comma- or space-separated addresses or networks, e.g. "203.0.113.2, 2001:db8::2".
ALLOW_ENV = "LB_DRAIN_ALLOW"
#: "0" (or "false", "no") refuses loopback too: for a reverse proxy on the
#: same host that relays clients' requests from 127.0.0.1.
LOOPBACK_ENV = "LB_DRAIN_LOOPBACK"

_LOOPBACK = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))
#: A request carrying one of these came through a proxy: its peer address is
#: the proxy's, not the sender's, so it proves nothing. lb's notice has none.
FORWARDING_HEADERS = frozenset({"forwarded", "x-forwarded-for", "x-real-ip"})

Network = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]


def parse_networks(entries: Iterable[str], source: str) -> tuple:
    """Networks from "203.0.113.2" or "203.0.113.0/24" entries; a bad entry
    raises ValueError naming `source`, at start-up rather than at the drain."""
    nets = []
    for entry in entries:
        entry = entry.strip()
        if not entry:
            continue
        try:
            nets.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            raise ValueError(
                f"lb_drain: {source}: {entry!r} is not an IP address or network "
                '(expected e.g. "203.0.113.2" or "2001:db8::/64")'
            ) from None
    return tuple(nets)


def _split(text: str) -> list:
    return text.replace(",", " ").split()


class Access:
    """The allow list. `allow=None` reads $LB_DRAIN_ALLOW; `loopback=None`
    reads $LB_DRAIN_LOOPBACK (default: allowed)."""

    def __init__(self, allow: Optional[Iterable[str]] = None, loopback: Optional[bool] = None):
        if allow is None:
            allow, source = _split(os.environ.get(ALLOW_ENV, "")), f"${ALLOW_ENV}"
        else:
            allow, source = (_split(allow) if isinstance(allow, str) else list(allow)), "allow"
        if loopback is None:
            loopback = os.environ.get(LOOPBACK_ENV, "1").strip().lower() not in ("0", "false", "no", "off")
        self.networks = parse_networks(allow, source) + (_LOOPBACK if loopback else ())

    def allows(self, peer: Optional[str], forwarded: bool = False) -> bool:
        """True if a request from `peer` (an address as the server reports
        it, or None for a Unix socket) may drain or undrain."""
        if forwarded or not peer:
            return False
        try:
            addr = ipaddress.ip_address(peer.split("%", 1)[0])
        except ValueError:
            return False
        if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
            addr = addr.ipv4_mapped
        return any(addr.version == net.version and addr in net for net in self.networks)

    def __repr__(self) -> str:
        return f"Access({', '.join(str(n) for n in self.networks)})"
