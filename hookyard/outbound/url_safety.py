"""SSRF checks for outbound URLs: checked at creation and again at delivery, on the resolved addresses.

A URL is attacker-controlled input. Its host is resolved and every address it resolves to must be
public; the caller then connects to the address that was checked, so a DNS answer that changes
between check and connect (rebinding) cannot swap it. Addresses are judged after unwrapping IPv6
forms that carry an IPv4 address (mapped, compatible, NAT64, 6to4, Teredo), because
`ipaddress.is_global` alone misses some of them.
"""

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

# Cloud metadata services: blocked even when private networks are allowed.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack, DigitalOcean
        "169.254.170.2",  # AWS ECS task metadata
        "fd00:ec2::254",  # AWS IPv6
        "168.63.129.16",  # Azure wire server
        "100.100.100.200",  # Alibaba Cloud
        "192.0.0.192",  # Oracle Cloud
    )
)
SHARED_ADDRESS_SPACE = ipaddress.ip_network("100.64.0.0/10")  # CGNAT
NAT64_PREFIXES = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
IPV4_COMPATIBLE = ipaddress.ip_network("::/96")


class UnsafeUrl(Exception):
    """The URL may not be called: bad scheme or form, or it resolves to a forbidden address."""


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str  # as written: sent as Host and used for TLS
    port: int
    address: str  # the checked address to connect to
    path: str  # path and query


def embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """Return the IPv4 address an IPv6 address carries (mapped, NAT64, 6to4, Teredo, compatible), if any."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if any(address in prefix for prefix in NAT64_PREFIXES):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in IPV4_COMPATIBLE and int(address) > 1:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def address_problem(address, allow_private: bool = False) -> str | None:
    """Return why an address may not be called, or None when it may."""
    if isinstance(address, ipaddress.IPv6Address):
        inner = embedded_ipv4(address)
        if inner is not None:
            problem = address_problem(inner, allow_private)
            return f"{problem} (inside {address})" if problem else None
    if address in METADATA_ADDRESSES:
        return "a cloud metadata address"
    if address.is_multicast:
        return "a multicast address"
    if address.is_unspecified:
        return "an unspecified address"
    if allow_private:
        return None
    for problem, test in (
        ("a loopback address", address.is_loopback),
        ("a link-local address", address.is_link_local),
        ("a private address", address.is_private),
        ("a shared (CGNAT) address", address in SHARED_ADDRESS_SPACE),
        ("a reserved address", address.is_reserved),
        ("not a public address", not address.is_global),
    ):
        if test:
            return problem
    return None


def resolve_addresses(host: str, port: int) -> list[str]:
    """Return every address `host` resolves to (numeric forms like `127.1` or `0x7f000001` included)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(info[4][0] for info in infos))


def parse_url(url: str) -> tuple[str, str, int, str]:
    """Return (scheme, host, port, path) of an http(s) URL, or raise UnsafeUrl saying what is wrong."""
    if any(ord(character) < 0x20 or ord(character) == 0x7F for character in url):
        # urlsplit would quietly drop CR, LF and tabs: a URL that needs rewriting is refused, not rewritten.
        raise UnsafeUrl("The URL contains a control character (CR, LF, tab, ...).")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise UnsafeUrl(f"Not a valid URL: {error}.") from None
    if parts.scheme not in ("http", "https"):
        raise UnsafeUrl("Only http and https URLs are allowed.")
    if not parts.hostname:
        raise UnsafeUrl("The URL has no host.")
    if port == 0:
        raise UnsafeUrl("Port 0 is not a port a receiver can listen on.")
    if parts.username or parts.password:
        raise UnsafeUrl("URLs with credentials are not allowed; use the signing secret to authenticate.")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return parts.scheme, parts.hostname, port or (443 if parts.scheme == "https" else 80), path


def check_url(url: str, allow_private: bool = False) -> Target:
    """Resolve a URL's host and return the target to connect to, if every address it names may be called."""
    scheme, host, port, path = parse_url(url)
    try:
        addresses = resolve_addresses(host, port)
    except (socket.gaierror, UnicodeError) as error:
        raise UnsafeUrl(f"The host {host!r} does not resolve: {error}.") from None
    for text in addresses:
        problem = address_problem(ipaddress.ip_address(text.split("%", 1)[0]), allow_private)
        if problem:
            raise UnsafeUrl(f"The host {host!r} resolves to {text}, {problem}.")
    return Target(scheme, host, port, addresses[0], path)
