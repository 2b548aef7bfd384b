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


# Special-purpose ranges that not every supported Python's is_global refuses in full.
_NOT_PUBLIC: tuple[Network, ...] = (
    # IETF protocol assignments. Some are "globally reachable" in IANA's registry, but
    # their anycast services answer nearby (PCP's at the local gateway) and ORCHIDv2 and
    # DRIP hold identifiers, not locators: nothing a crawler fetches from.
    ipaddress.ip_network("192.0.0.0/24"),
    ipaddress.ip_network("2001::/23"),
    ipaddress.ip_network("192.88.99.0/24"),  # 6to4 relay anycast, deprecated (RFC 7526)
    ipaddress.ip_network("2002::/16"),  # 6to4: IANA says N/A; Python 3.13 says not global
    ipaddress.ip_network("3fff::/20"),  # documentation (RFC 9637)
)
_GLOBAL_UNICAST = ipaddress.ip_network("2000::/3")  # IANA allocates from nowhere else
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")


def _low_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address:
    return ipaddress.IPv4Address(int(address) & 0xFFFF_FFFF)


def is_public(address: IPAddress) -> bool:
    """Globally routable unicast: not private, loopback, link-local (cloud metadata at
    169.254.169.254), shared, multicast, reserved, unspecified, benchmarking or
    documentation, nor another special-purpose range (``_NOT_PUBLIC``).

    An IPv6 address that carries an IPv4 address is judged by that address too, since
    some stack, translator or relay on the way delivers it there:

    - IPv4-mapped ``::ffff:0:0/96``: a dual-stack socket connects to the IPv4 address.
    - NAT64 ``64:ff9b::/96`` (RFC 6052): the translator connects to the last 32 bits;
      ``64:ff9b::a9fe:a9fe`` is the metadata service. Public when they are.
    - 6to4 ``2002::/16``: a 6to4 interface or relay tunnels to bits 16-48. Checked;
      then the range refuses it anyway (as newer Pythons do: a deprecated mechanism).
    - Teredo ``2001::/32``: the client (last 32 bits, inverted) and server (bits 32-64).
      Both are checked; then the range refuses it anyway (not globally reachable).
    - IPv4-compatible ``::/96`` (deprecated, RFC 4291): old stacks send it as IPv4.
      Checked; then outside 2000::/3, so never public.

    The local-use NAT64 ``64:ff9b:1::/48`` (RFC 8215) places its IPv4 address where
    the operator's prefix length says, so it cannot be unwrapped: it is outside
    2000::/3, never public.
    """
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None or address in _NAT64:
            return is_public(_low_ipv4(address))
        embedded = list(address.teredo or ())
        if address.sixtofour is not None:
            embedded.append(address.sixtofour)
        if address in _IPV4_COMPATIBLE:  # :: and ::1 give 0.0.0.0 and 0.0.0.1: refused
            embedded.append(_low_ipv4(address))
        if not all(is_public(ipv4) for ipv4 in embedded) or address not in _GLOBAL_UNICAST:
            return False
    if any(address in network for network in _NOT_PUBLIC):
        return False
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
            "allow_private_networks (QUARRY_ALLOW_PRIVATE_NETWORKS=1) to crawl such hosts",
            host=host,
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
