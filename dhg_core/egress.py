"""Where a service may connect on someone else's say-so: the one address policy of every outbound request whose
target a client chose (the Registry's webhook deliveries, the worker's `source.url` downloads).

By default only public (globally routable) unicast addresses are reachable: never loopback, private networks,
link-local (where clouds serve instance metadata, 169.254.169.254), carrier-grade NAT, unspecified, multicast
or reserved ranges, IPv4 inside IPv6 included. An allow-list of networks (settings and chart values) opens what a
deployment means to reach; `allow_private` opens every unicast address but link-local ones (local mode, on one's
own machine: its own servers and its LAN, never a cloud's metadata service).

It is enforced where the connection is made, not on the URL's text: the HTTP client's network backend resolves
the host itself, refuses the whole connection when any of its addresses is blocked, and connects to the very
addresses it checked (no second lookup a DNS rebinding could answer differently). Every redirect hop opens its
connection through the same backend, so a redirect into an internal address is refused too; proxies from the
environment are not used (they would hide the target).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import anyio
import httpcore
import httpx

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class Blocked(Exception):
    """The target is not reachable under the policy (never transient: asking again changes nothing)."""


def _kind(address: Address) -> str:
    for test, name in (
        ("is_loopback", "a loopback address"),
        ("is_link_local", "a link-local address (where cloud instance metadata is served)"),
        ("is_unspecified", "the unspecified address"),
        ("is_multicast", "a multicast address"),
        ("is_private", "a private address"),
    ):
        if getattr(address, test):
            return name
    return "not a public address"


@dataclass(frozen=True)
class AddressPolicy:
    allow_private: bool = False
    allowed_networks: tuple[Network, ...] = field(default_factory=tuple)

    @classmethod
    def of(cls, *, allow_private: bool = False, allowed_networks: Iterable[str] = ()) -> AddressPolicy:
        """From settings: CIDRs (`10.0.0.0/8`, `fd00::/8`) or single addresses."""
        return cls(allow_private, tuple(ipaddress.ip_network(text.strip(), strict=False) for text in allowed_networks))

    def refusal(self, text: str) -> str | None:
        """Why `text` (an IP address) may not be reached, or None."""
        address: Address = ipaddress.ip_address(text.split("%", 1)[0])  # an IPv6 zone index is no part of it
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        if any(address in network for network in self.allowed_networks):
            return None
        if address.is_multicast or address.is_unspecified:
            return f"{address} is {_kind(address)}"
        if address.is_global or (self.allow_private and not address.is_link_local):
            return None
        return f"{address} is {_kind(address)}"

    def check(self, host: str, addresses: list[str]) -> list[str]:
        if not addresses:
            raise Blocked(f"{host} has no address")
        for address in addresses:
            if (reason := self.refusal(address)) is not None:
                named = "" if address == host else f"{host} resolves to "
                raise Blocked(f"{named}{reason}: refused by the address policy")
        return addresses

    def resolve(self, host: str, port: int) -> list[str]:
        """Every address of `host`, all of them allowed, or Blocked."""
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except socket.gaierror as error:
            raise httpcore.ConnectError(f"cannot resolve {host}: {error}") from error
        return self.check(host, _unique(str(info[4][0]) for info in infos))

    async def resolve_async(self, host: str, port: int) -> list[str]:
        try:
            infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except socket.gaierror as error:
            raise httpcore.ConnectError(f"cannot resolve {host}: {error}") from error
        return self.check(host, _unique(str(info[4][0]) for info in infos))


def _unique(addresses: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(addresses))


class GuardedBackend(httpcore.NetworkBackend):
    """httpcore's network backend with the policy applied to every TCP connection it opens."""

    def __init__(self, policy: AddressPolicy) -> None:
        self.policy = policy
        self.inner = httpcore.SyncBackend()

    def connect_tcp(
        self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:  # fmt: skip
        error: Exception | None = None
        for address in self.policy.resolve(host, port):
            try:
                return self.inner.connect_tcp(address, port, timeout, local_address, socket_options)
            except httpcore.ConnectError as failed:
                error = failed
        assert error is not None
        raise error

    def connect_unix_socket(self, path: str, timeout: float | None = None, socket_options: Any = None) -> Any:
        raise Blocked("Unix sockets are not reachable under the address policy")

    def sleep(self, seconds: float) -> None:
        self.inner.sleep(seconds)


class AsyncGuardedBackend(httpcore.AsyncNetworkBackend):
    def __init__(self, policy: AddressPolicy) -> None:
        self.policy = policy
        self.inner = httpcore.AnyIOBackend()

    async def connect_tcp(  # httpcore's interface, timeout included
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        error: Exception | None = None
        for address in await self.policy.resolve_async(host, port):
            try:
                return await self.inner.connect_tcp(address, port, timeout, local_address, socket_options)
            except httpcore.ConnectError as failed:
                error = failed
        assert error is not None
        raise error

    async def connect_unix_socket(self, path: str, timeout: float | None = None, socket_options: Any = None) -> Any:  # noqa: ASYNC109
        raise Blocked("Unix sockets are not reachable under the address policy")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


def guarded_client(policy: AddressPolicy, **options: Any) -> httpx.Client:
    """An httpx client whose every connection (redirects included) obeys `policy`; no proxies from the env."""
    transport = httpx.HTTPTransport()
    transport._pool = httpcore.ConnectionPool(
        ssl_context=httpx.create_ssl_context(), network_backend=GuardedBackend(policy)
    )
    return httpx.Client(transport=transport, trust_env=False, **options)


def guarded_async_client(policy: AddressPolicy, **options: Any) -> httpx.AsyncClient:
    transport = httpx.AsyncHTTPTransport()
    transport._pool = httpcore.AsyncConnectionPool(
        ssl_context=httpx.create_ssl_context(), network_backend=AsyncGuardedBackend(policy)
    )
    return httpx.AsyncClient(transport=transport, trust_env=False, **options)
