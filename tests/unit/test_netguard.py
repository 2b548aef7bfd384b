"""The SSRF guard's verdicts: every IANA special-purpose range, and IPv4 wrapped in IPv6.

The registries are https://www.iana.org/assignments/iana-ipv4-special-registry and
https://www.iana.org/assignments/iana-ipv6-special-registry (RFC 6890 and its updates).
"Globally Reachable: False" there means not public here. The ranges the registry marks
globally reachable get a verdict chosen for a public crawler, said in the row's comment.
What must hold: no address that reaches a private, loopback, link-local, unspecified,
reserved, shared, benchmarking or documentation network is public.
"""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest

from quarrycore.exceptions import BlockedAddress
from quarrycore.fetch.netguard import AddressPolicy, GuardedBackend, is_public

PUBLIC, NOT_PUBLIC = True, False

# (range, representative addresses: the first usable and one inside, verdict, why)
REGISTRY: list[tuple[str, tuple[str, ...], bool, str]] = [
    # IPv4 Special-Purpose Address Registry
    ("0.0.0.0/8", ("0.0.0.0", "0.0.0.1", "0.1.2.3"), NOT_PUBLIC, "this network; 0.0.0.0 is any"),
    ("10.0.0.0/8", ("10.0.0.1", "10.20.30.40"), NOT_PUBLIC, "private (RFC 1918)"),
    ("100.64.0.0/10", ("100.64.0.1", "100.100.100.200"), NOT_PUBLIC, "shared; Alibaba metadata"),
    ("127.0.0.0/8", ("127.0.0.1", "127.1.2.3"), NOT_PUBLIC, "loopback"),
    ("169.254.0.0/16", ("169.254.0.1", "169.254.169.254"), NOT_PUBLIC, "link-local; metadata"),
    ("172.16.0.0/12", ("172.16.0.1", "172.31.255.254"), NOT_PUBLIC, "private (RFC 1918)"),
    ("192.0.0.0/24", ("192.0.0.1", "192.0.0.200"), NOT_PUBLIC, "IETF protocol assignments"),
    ("192.0.0.0/29", ("192.0.0.1", "192.0.0.6"), NOT_PUBLIC, "IPv4 service continuity (DS-Lite)"),
    ("192.0.0.8/32", ("192.0.0.8",), NOT_PUBLIC, "IPv4 dummy address (RFC 7600)"),
    # Registry: globally reachable. Refused: PCP's anycast answers at the nearest PCP
    # server, normally the local gateway, and a crawler has no business there.
    ("192.0.0.9/32", ("192.0.0.9",), NOT_PUBLIC, "PCP anycast: reaches the local gateway"),
    ("192.0.0.10/32", ("192.0.0.10",), NOT_PUBLIC, "TURN anycast: refused like PCP's"),
    ("192.0.0.170/32", ("192.0.0.170",), NOT_PUBLIC, "NAT64/DNS64 discovery"),
    ("192.0.0.171/32", ("192.0.0.171",), NOT_PUBLIC, "NAT64/DNS64 discovery"),
    ("192.0.2.0/24", ("192.0.2.1", "192.0.2.77"), NOT_PUBLIC, "documentation TEST-NET-1"),
    # Registry: globally reachable, and ordinary routed blocks outside 192.0.0.0/24:
    # internet anycast services, harmless to reach (Python's is_global agrees).
    ("192.31.196.0/24", ("192.31.196.1", "192.31.196.99"), PUBLIC, "AS112-v4: routed anycast"),
    ("192.52.193.0/24", ("192.52.193.1", "192.52.193.99"), PUBLIC, "AMT relays: routed anycast"),
    # Deprecated by RFC 7526: a relay into 6to4, a tunnel endpoint and never a website
    # (Python's is_global calls it global).
    ("192.88.99.0/24", ("192.88.99.1", "192.88.99.99"), NOT_PUBLIC, "6to4 relay anycast, gone"),
    ("192.168.0.0/16", ("192.168.0.1", "192.168.100.1"), NOT_PUBLIC, "private (RFC 1918)"),
    ("192.175.48.0/24", ("192.175.48.1", "192.175.48.42"), PUBLIC, "AS112 direct delegation"),
    ("198.18.0.0/15", ("198.18.0.1", "198.19.12.34"), NOT_PUBLIC, "benchmarking"),
    ("198.51.100.0/24", ("198.51.100.1", "198.51.100.77"), NOT_PUBLIC, "documentation TEST-NET-2"),
    ("203.0.113.0/24", ("203.0.113.1", "203.0.113.77"), NOT_PUBLIC, "documentation TEST-NET-3"),
    ("240.0.0.0/4", ("240.0.0.1", "250.1.2.3"), NOT_PUBLIC, "reserved"),
    ("255.255.255.255/32", ("255.255.255.255",), NOT_PUBLIC, "limited broadcast"),
    ("224.0.0.0/4", ("224.0.0.1", "239.255.255.250"), NOT_PUBLIC, "multicast (own registry)"),
    # IPv6 Special-Purpose Address Registry
    ("::1/128", ("::1",), NOT_PUBLIC, "loopback"),
    ("::/128", ("::",), NOT_PUBLIC, "unspecified"),
    # The embedded IPv4 address decides (rows below); these two embed non-public ones.
    ("::ffff:0:0/96", ("::ffff:0:1", "::ffff:10.1.2.3"), NOT_PUBLIC, "IPv4-mapped: 0.0.0.1, 10/8"),
    ("64:ff9b::/96", ("64:ff9b::1", "64:ff9b::c633:6401"), NOT_PUBLIC, "NAT64: 0.0.0.1, TEST-2"),
    ("64:ff9b:1::/48", ("64:ff9b:1::1", "64:ff9b:1:abcd::1"), NOT_PUBLIC, "local-use NAT64"),
    ("100::/64", ("100::1", "100::abcd"), NOT_PUBLIC, "discard-only"),
    ("100:0:0:1::/64", ("100:0:0:1::1", "100:0:0:1::abcd"), NOT_PUBLIC, "dummy prefix (RFC 9780)"),
    ("2001::/23", ("2001::1", "2001:1ff::1"), NOT_PUBLIC, "IETF protocol assignments"),
    # Registry: not globally reachable. Refused whatever it embeds (rows below).
    ("2001::/32", ("2001::1", "2001:0:4136:e378:8000:9c40:f7f7:f7f7"), NOT_PUBLIC, "Teredo"),
    # Registry: globally reachable. 2001::/23 is refused whole: its anycast services answer
    # nearby (PCP at the gateway) and ORCHIDv2/DRIP are identifiers, not locators.
    ("2001:1::1/128", ("2001:1::1",), NOT_PUBLIC, "PCP anycast: the local gateway"),
    ("2001:1::2/128", ("2001:1::2",), NOT_PUBLIC, "TURN anycast: refused like PCP's"),
    ("2001:1::3/128", ("2001:1::3",), NOT_PUBLIC, "DNS-SD SRP anycast: a local server"),
    ("2001:2::/48", ("2001:2::1", "2001:2:0:abcd::1"), NOT_PUBLIC, "benchmarking"),
    ("2001:3::/32", ("2001:3::1", "2001:3:abcd::1"), NOT_PUBLIC, "AMT: within 2001::/23"),
    ("2001:4:112::/48", ("2001:4:112::1", "2001:4:112:abcd::1"), NOT_PUBLIC, "AS112-v6: 2001::/23"),
    ("2001:10::/28", ("2001:10::1", "2001:1a::1"), NOT_PUBLIC, "ORCHID, deprecated"),
    ("2001:20::/28", ("2001:20::1", "2001:2a::1"), NOT_PUBLIC, "ORCHIDv2: identifiers"),
    ("2001:30::/28", ("2001:30::1", "2001:3a::1"), NOT_PUBLIC, "DRIP DETs: identifiers"),
    ("2001:db8::/32", ("2001:db8::1", "2001:db8:abcd::1"), NOT_PUBLIC, "documentation"),
    # Registry: N/A. Refused whatever it embeds (rows below), as Python 3.13 does.
    ("2002::/16", ("2002::1", "2002:c633:6401::1"), NOT_PUBLIC, "6to4: 0.0.0.0, TEST-NET-2"),
    # Registry: globally reachable; an ordinary routed ARIN block (Python agrees).
    ("2620:4f:8000::/48", ("2620:4f:8000::1", "2620:4f:8000::42"), PUBLIC, "AS112 delegation"),
    ("3fff::/20", ("3fff::1", "3fff:abc::1"), NOT_PUBLIC, "documentation (RFC 9637)"),
    ("5f00::/16", ("5f00::1", "5f00:abcd::1"), NOT_PUBLIC, "SRv6 SIDs (RFC 9602)"),
    ("fc00::/7", ("fc00::1", "fd00:ec2::254"), NOT_PUBLIC, "unique local; AWS metadata"),
    ("fe80::/10", ("fe80::1", "fe80::a9fe:a9fe"), NOT_PUBLIC, "link-local"),
    ("ff00::/8", ("ff02::1", "ff0e::abcd"), NOT_PUBLIC, "multicast"),
]

# (address, verdict, why): IPv4 in IPv6 clothing, and ordinary public addresses
WRAPPED: list[tuple[str, bool, str]] = [
    ("64:ff9b::a9fe:a9fe", NOT_PUBLIC, "NAT64 of 169.254.169.254"),
    ("64:ff9b::7f00:1", NOT_PUBLIC, "NAT64 of 127.0.0.1"),
    ("64:ff9b::a00:1", NOT_PUBLIC, "NAT64 of 10.0.0.1"),
    ("64:ff9b::6440:1", NOT_PUBLIC, "NAT64 of 100.64.0.1"),
    ("64:ff9b::c000:9", NOT_PUBLIC, "NAT64 of 192.0.0.9"),
    ("64:ff9b::808:808", PUBLIC, "NAT64 of 8.8.8.8: the translator reaches a public address"),
    ("64:ff9b:1::a00:1", NOT_PUBLIC, "local-use NAT64 of 10.0.0.1"),
    ("64:ff9b:1::808:808", NOT_PUBLIC, "local-use NAT64: refused whatever it embeds"),
    ("2002:7f00:1::", NOT_PUBLIC, "6to4 of 127.0.0.1"),
    ("2002:a9fe:a9fe::", NOT_PUBLIC, "6to4 of 169.254.169.254"),
    ("2002:a00:1::1", NOT_PUBLIC, "6to4 of 10.0.0.1"),
    ("2002:808:808::1", NOT_PUBLIC, "6to4 of 8.8.8.8: 2002::/16 refused, as Python 3.13 does"),
    ("2001:0:4136:e378:8000:9c40:80ff:fffe", NOT_PUBLIC, "Teredo, client 127.0.0.1"),
    ("2001:0:4136:e378:8000:9c40:5601:5601", NOT_PUBLIC, "Teredo, client 169.254.169.254"),
    ("2001:0:7f00:1:8000:9c40:f7f7:f7f7", NOT_PUBLIC, "Teredo, server 127.0.0.1"),
    ("2001:0:4136:e378:8000:9c40:f7f7:f7f7", NOT_PUBLIC, "Teredo, both public: 2001::/32"),
    ("::127.0.0.1", NOT_PUBLIC, "IPv4-compatible 127.0.0.1"),
    ("::169.254.169.254", NOT_PUBLIC, "IPv4-compatible 169.254.169.254"),
    ("::10.0.0.1", NOT_PUBLIC, "IPv4-compatible 10.0.0.1"),
    ("::8.8.8.8", NOT_PUBLIC, "IPv4-compatible is deprecated (RFC 4291): never public"),
    ("::ffff:127.0.0.1", NOT_PUBLIC, "IPv4-mapped 127.0.0.1"),
    ("::ffff:169.254.169.254", NOT_PUBLIC, "IPv4-mapped 169.254.169.254"),
    ("::ffff:8.8.8.8", PUBLIC, "IPv4-mapped 8.8.8.8: on a dual-stack socket it is 8.8.8.8"),
    ("8.8.8.8", PUBLIC, "Google DNS"),
    ("1.1.1.1", PUBLIC, "Cloudflare DNS"),
    ("93.184.215.14", PUBLIC, "an ordinary web server"),
    ("2606:4700:4700::1111", PUBLIC, "Cloudflare DNS"),
    ("2001:4860:4860::8888", PUBLIC, "Google DNS: 2001::/23 is not overbroad"),
    ("2a00:1450:4001:80b::200e", PUBLIC, "an ordinary web server"),
]


def registry_params() -> list[Any]:
    return [
        pytest.param(network, address, verdict, id=f"{network} {address}")
        for network, addresses, verdict, _why in REGISTRY
        for address in addresses
    ]


@pytest.mark.parametrize(("network", "address", "verdict"), registry_params())
def test_special_purpose_registry(network: str, address: str, verdict: bool) -> None:
    ip = ipaddress.ip_address(address)
    assert ip in ipaddress.ip_network(network), "the table's example is outside its range"
    assert is_public(ip) is verdict


@pytest.mark.parametrize(
    ("address", "verdict"), [pytest.param(a, v, id=a) for a, v, _why in WRAPPED]
)
def test_wrapped_and_ordinary(address: str, verdict: bool) -> None:
    assert is_public(ipaddress.ip_address(address)) is verdict


def test_teredo_rows_say_what_they_embed() -> None:
    teredo = ipaddress.IPv6Address("2001:0:4136:e378:8000:9c40:80ff:fffe").teredo
    assert teredo is not None
    assert [str(ipv4) for ipv4 in teredo] == ["65.54.227.120", "127.0.0.1"]  # server, client


NAT64_METADATA = ipaddress.ip_address("64:ff9b::a9fe:a9fe")


def test_policy_refuses_nat64_metadata() -> None:
    with pytest.raises(BlockedAddress, match="64:ff9b::a9fe:a9fe"):
        AddressPolicy(allow_private=False).check("meta.test", NAT64_METADATA)


def test_policy_allow_private_lets_it_through() -> None:
    AddressPolicy(allow_private=True).check("meta.test", NAT64_METADATA)
    AddressPolicy(allow_private=False, allowlist=["64:ff9b::/96"]).check("m", NAT64_METADATA)


class NoConnections:
    """An inner backend that fails the test if the guard lets a connection through."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    async def connect_tcp(self, host: str, port: int, **kwargs: Any) -> Any:
        self.calls.append(host)
        raise AssertionError(f"connected to {host}")


async def test_backend_refuses_before_connecting() -> None:
    inner = NoConnections()
    backend = GuardedBackend(
        AddressPolicy(allow_private=False),
        host_overrides={"meta.test": "64:ff9b::a9fe:a9fe"},
        inner=inner,  # type: ignore[arg-type]
    )
    try:
        assert await backend.resolve("META.test", 80) == [NAT64_METADATA]
        with pytest.raises(BlockedAddress):
            await backend.connect_tcp("meta.test", 80, timeout=1.0)
        assert inner.calls == []
    finally:
        backend.close()
