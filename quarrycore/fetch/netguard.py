"""The SSRF guard: connections go only to addresses a public crawler may reach.

It sits in httpcore's network backend, where the host is resolved and connected, so
the address checked is the address used (no window for DNS rebinding between a check
and the connection), on the first request and on every redirect alike.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import socket
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpcore
import httpx
from httpcore import AsyncNetworkBackend, AsyncNetworkStream

from quarrycore.exceptions import BlockedAddress

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def is_public(address: IPAddress) -> bool:
    """Globally routable unicast: not private, loopback, link-local (cloud metadata at
    169.254.169.254), multicast, reserved or unspecified; IPv4-mapped IPv6 unwrapped."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


class AddressPolicy:
    """Which resolved addresses may be connected to."""

    def __init__(self, *, allow_private: bool, allowlist: Iterable[str] = ()) -> None:
        self.allow_private = allow_private
        self.allowlist: list[Network] = [ipaddress.ip_network(n, strict=False) for n in allowlist]

    def check(self, host: str, address: IPAddress) -> None:
        if self.allow_private or is_public(address):
            return
        if any(address in network for network in self.allowlist):
            return
        raise BlockedAddress(
            f"{host} resolves to {address}, a non-public address; set "
            "allow_private_networks (QUARRY_ALLOW_PRIVATE_NETWORKS=1) to crawl such hosts"
        )


class GuardedBackend(AsyncNetworkBackend):
    """Resolve, check every address, then connect to a checked one."""

    def __init__(
        self,
        policy: AddressPolicy,
        *,
        host_overrides: Mapping[str, str] | None = None,
        inner: AsyncNetworkBackend | None = None,
        resolvers: int = 16,
    ) -> None:
        from httpcore._backends.auto import AutoBackend

        self._policy = policy
        self._overrides = {k.lower(): v for k, v in (host_overrides or {}).items()}
        self._inner = inner or AutoBackend()
        # Lookups get threads of their own: on the loop's default executor 32 slow
        # lookups held up every other blocking call (commits, checkpoints) for 25 s.
        self._resolver = ThreadPoolExecutor(max_workers=resolvers, thread_name_prefix="quarry-dns")

    def close(self) -> None:
        self._resolver.shutdown(wait=False, cancel_futures=True)

    async def resolve(self, host: str, port: int) -> list[IPAddress]:
        override = self._overrides.get(host.lower())
        if override is not None:
            return [ipaddress.ip_address(override)]
        try:
            return [ipaddress.ip_address(host.strip("[]"))]
        except ValueError:
            pass
        loop = asyncio.get_running_loop()
        lookup = functools.partial(socket.getaddrinfo, host, port, type=socket.SOCK_STREAM)
        try:
            infos = await loop.run_in_executor(self._resolver, lookup)
        except socket.gaierror as exc:
            raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from exc
        return list(dict.fromkeys(ipaddress.ip_address(info[4][0]) for info in infos))

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> AsyncNetworkStream:
        addresses = await self.resolve(host, port)
        for address in addresses:  # any bad address refuses the host: no lottery
            self._policy.check(host, address)
        return await self._inner.connect_tcp(
            str(addresses[0]),
            port,
            timeout=timeout,
            local_address=local_address,
            socket_options=socket_options,
        )

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> AsyncNetworkStream:
        raise BlockedAddress("unix sockets are not fetched")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport with its connection pool on the guarded backend."""

    def __init__(self, backend: GuardedBackend, *, limits: httpx.Limits) -> None:
        super().__init__(limits=limits)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=backend,
        )
