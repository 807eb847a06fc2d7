"""Which IP addresses a live webhook may connect to: globally routable unicast ones, and nothing else.

A live API key chooses the URL meterflow posts to, so a URL must never reach into the operator's own
network or a cloud's metadata service. A deny list of private ranges leaks (CGNAT `100.64.0.0/10` holds
one cloud's metadata service; multicast, reserved and benchmark ranges were all let through once), so the
rule is an allow list: the address must be globally routable (`ipaddress`'s `is_global`, from IANA's
special-purpose registries) and unicast.

An IPv6 address may carry an IPv4 address that the packet finally reaches: IPv4-mapped `::ffff:a.b.c.d`
(the socket connects to the IPv4 address itself), NAT64 `64:ff9b::/96` (a translator forwards to it),
6to4 `2002::/16` and Teredo `2001::/32` (tunnels to it), and the deprecated IPv4-compatible `::a.b.c.d`.
That IPv4 address must pass the same rule, or `64:ff9b::a9fe:a9fe` would be a way to 169.254.169.254.
"""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address, ip_address, ip_network

_NAT64 = ip_network("64:ff9b::/96")
# RFC 8215's local-use NAT64 prefix: a network's own translator, so its IPv4 side is the operator's.
_LOCAL_NAT64 = ip_network("64:ff9b:1::/48")
_IPV4_COMPATIBLE = ip_network("::/96")


def embedded_ipv4(ip: IPv6Address) -> IPv4Address | None:
    """The IPv4 address a packet to `ip` ends up at, for the forms that carry one; None for the rest."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]  # (server, client): packets go to the client
    if ip in _NAT64 or ip in _IPV4_COMPATIBLE:
        return IPv4Address(int(ip) & 0xFFFF_FFFF)
    return None


def _global_unicast(ip: IPv4Address | IPv6Address) -> bool:
    if isinstance(ip, IPv6Address) and (ip.is_site_local or ip in _LOCAL_NAT64):
        return False  # deprecated site-local and local NAT64: not in every Python's `is_global` table
    return ip.is_global and not ip.is_multicast


def public_address(address: str) -> bool:
    """True when a live webhook may connect to `address` (an IP address as text, as a resolver gives it;
    anything that is not one is refused)."""
    try:
        ip = ip_address(address)
    except ValueError:
        return False
    if isinstance(ip, IPv6Address):
        inner = embedded_ipv4(ip)
        if inner is not None and not _global_unicast(inner):
            return False
        if ip.ipv4_mapped is not None:
            return True  # the socket connects to the IPv4 address itself, which passed
    return _global_unicast(ip)
