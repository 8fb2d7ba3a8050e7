"""Which addresses a download may connect to: result and lock URLs are not trusted.

A result URL comes from the provider's answer, a lock URL from a file a pull request can edit,
and either may redirect anywhere; CI fetches them from inside its network. So every address a
download connects to is classified into a :class:`Zone`, and only public addresses are
allowed, plus the zone of the provider's own API (``SEEDFLOW_<PROVIDER>_BASE_URL``, or the
simulator's address): a simulator or a test server on loopback serves its images from loopback,
a provider behind a private address from private addresses, and nothing else may.

The check sits where connections are made (:class:`GuardedBackend`, the network layer under
httpx): the host is resolved once, *every* address it resolves to must be allowed, and the
connection goes to one of those checked addresses, never to a second lookup of the name. That
covers each redirect hop (a new host is a new connection) and DNS rebinding (a name that
answers "public" to the check and "internal" to the connect). TLS still verifies the
certificate against the host name. Not covered: a provider's API itself (its base URL is the
operator's setting), and an address that is public but routed inside the network (NAT64
``64:ff9b::/96``, 6to4) — see docs/security.md.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable
from enum import StrEnum
from urllib.parse import urlsplit

import httpcore

from seedflow.apply.download import DownloadRefused

_PRIVATE = tuple(ipaddress.ip_network(n) for n in
                 ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"))


class Zone(StrEnum):
    """Where an address is; each is named as messages use it ("a loopback address")."""

    PUBLIC = "public"
    LOOPBACK = "loopback"
    PRIVATE = "private"
    LINK_LOCAL = "link-local"
    OTHER = "non-public (reserved, shared, multicast or unspecified)"


def zone_of(address: str) -> Zone:
    """The zone of an IP address (an IPv4-mapped IPv6 address counts as its IPv4 one)."""
    ip = ipaddress.ip_address(address.partition("%")[0])  # no IPv6 scope id
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_loopback:
        return Zone.LOOPBACK
    if ip.is_link_local:
        return Zone.LINK_LOCAL
    if any(ip in network for network in _PRIVATE):
        return Zone.PRIVATE
    if ip.is_global and not ip.is_multicast:
        return Zone.PUBLIC
    return Zone.OTHER


async def resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (an IP literal resolves to itself), in order."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class AddressGuard:
    """The addresses one provider's result URLs may connect to (see the module docstring).

    ``base_url`` is the provider's API; its host is resolved only when a download meets a
    non-public address, so a run against a public provider looks up nothing extra.
    """

    def __init__(self, provider: str, base_url: str | None) -> None:
        self.provider = provider
        self._base_host = urlsplit(base_url or "").hostname or ""
        self._base_zones: frozenset[Zone] | None = None

    def __repr__(self) -> str:
        return f"AddressGuard(provider={self.provider!r}, base_host={self._base_host!r})"

    async def addresses(self, host: str, port: int) -> list[str]:
        """The addresses of ``host`` to connect to, each checked; else DownloadRefused."""
        try:
            found = await resolve(host, port)
        except (OSError, UnicodeError) as exc:   # reported, and retried, as any connect error
            raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from exc
        for address in found:
            zone = zone_of(address)
            if zone is not Zone.PUBLIC and zone not in await self._allowed():
                raise DownloadRefused(self._refusal(host, address, zone))
        return found

    async def _allowed(self) -> frozenset[Zone]:
        if self._base_zones is None:
            try:
                found = await resolve(self._base_host, 443) if self._base_host else []
            except (OSError, UnicodeError):
                found = []   # unknown: only public addresses then
            self._base_zones = frozenset(zone_of(a) for a in found)
        return self._base_zones

    def _refusal(self, host: str, address: str, zone: Zone) -> str:
        where = host if host == address else f"{host} ({address})"
        base = self._base_host or "the provider's API"
        return (f"refusing to connect to {where}, a {zone} address: {self.provider}'s result "
                f"URLs may point only at public addresses, or at the zone of its API "
                f"({base}), and {base} is not {_article(zone)}. A lock URL edited by hand, or "
                "a redirect by the image host? (docs/security.md, \"Hostile providers and "
                "network\")")


def _article(zone: Zone) -> str:
    return "in a non-public zone" if zone is Zone.OTHER else f"on a {zone} address"


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend with an :class:`AddressGuard` in front of every connect."""

    def __init__(self, guard: AddressGuard,
                 inner: httpcore.AsyncNetworkBackend | None = None) -> None:
        self._guard = guard
        self._inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                          local_address: str | None = None,
                          socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
                          ) -> httpcore.AsyncNetworkStream:
        addresses = await self._guard.addresses(host, port)
        failure: httpcore.ConnectError | httpcore.ConnectTimeout | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(address, port, timeout=timeout,
                                                     local_address=local_address,
                                                     socket_options=socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        raise failure or httpcore.ConnectError(f"{host} resolves to no address")

    async def connect_unix_socket(self, path: str, timeout: float | None = None,
                                  socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
                                  ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("downloads do not use Unix sockets")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)
