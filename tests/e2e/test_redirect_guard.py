"""A redirect chain from a public host into private address space is refused at the hop
that leaves public space, with the SSRF guard on (the fetcher alone, real HTTP).

Only 127.0.0.1 can receive traffic here, so "a public host" is a test server on
127.0.0.1 reached through names (``host_overrides``) whose address the guard is told to
let through (``private_network_allowlist=["127.0.0.1/32"]``); every other private
address stays refused. A spy on httpcore's own network backend (the one the guard
wraps, called only after the guard's check) records every connection asked for: the
private targets must never get there. It also keeps the test's traffic on 127.0.0.1.
"""

from __future__ import annotations

from typing import Any

import httpcore
import pytest
from httpcore._backends.auto import AutoBackend

from quarrycore.fetch.client import Fetcher
from quarrycore.records import Failure, FetchedPage, NotModified
from quarrycore.settings import QuarrySettings
from tests.support.siteserver import Response, SiteServer, html_page

PUBLIC = "public.test"  # -> 127.0.0.1, allowlisted: the public host
CDN = "cdn.test"  # -> 127.0.0.1 too: a second public host for a two-hop chain
INTERNAL = "internal.test"  # -> 10.0.0.1 by host_overrides
ROBOTS = Response(200, b"User-agent: *\nAllow: /\n", {"Content-Type": "text/plain"})

# (redirect target, what the failure must name: the hop's host and address)
PRIVATE_TARGETS = [
    pytest.param("http://127.0.0.2/", ("127.0.0.2",), id="loopback-127.0.0.2"),
    pytest.param(
        "http://169.254.169.254/latest/meta-data/", ("169.254.169.254",), id="cloud-metadata"
    ),
    pytest.param("http://[::1]/", ("::1",), id="ipv6-loopback"),
    pytest.param(
        "http://[64:ff9b::a9fe:a9fe]/", ("64:ff9b::a9fe:a9fe",), id="nat64-of-cloud-metadata"
    ),
    pytest.param(f"http://{INTERNAL}/admin", (INTERNAL, "10.0.0.1"), id="name-to-10.0.0.1"),
]
STATUSES = [301, 302, 307]


def guarded(**overrides: Any) -> QuarrySettings:
    base: dict[str, Any] = {
        "allow_private_networks": False,  # the guard on (tests/conftest.py turns it off)
        "private_network_allowlist": ["127.0.0.1/32"],
        "host_overrides": {PUBLIC: "127.0.0.1", CDN: "127.0.0.1", INTERNAL: "10.0.0.1"},
        "respect_robots": False,
        "per_host_delay": 0.0,
        "fetch_retries": 2,  # a refusal is permanent: never tried again
        "fetch_backoff_base": 0.01,
    }
    return QuarrySettings(**{**base, **overrides})


@pytest.fixture
def connections(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """(address, port) of every TCP connection the guarded backend asks httpcore's own
    backend to open. Only 127.0.0.1 is really connected; any other address is refused
    here, so nothing leaves the machine even if the guard let it through."""
    asked: list[tuple[str, int]] = []
    connect = AutoBackend.connect_tcp

    async def spy(
        self: AutoBackend, host: str, port: int, *args: Any, **kwargs: Any
    ) -> httpcore.AsyncNetworkStream:
        asked.append((host, port))
        if host != "127.0.0.1":
            raise httpcore.ConnectError(f"the test refuses connections to {host}")
        return await connect(self, host, port, *args, **kwargs)

    monkeypatch.setattr(AutoBackend, "connect_tcp", spy)
    return asked


async def fetch(settings: QuarrySettings, url: str) -> FetchedPage | Failure:
    async with Fetcher(settings) as fetcher:
        outcome = await fetcher.fetch(url)
    assert not isinstance(outcome, NotModified)  # no validators sent: never a 304
    return outcome


def assert_refused(outcome: FetchedPage | Failure, names: tuple[str, ...]) -> None:
    assert isinstance(outcome, Failure), outcome
    assert (outcome.stage, outcome.error_type, outcome.retryable) == (
        "crawl",
        "BlockedAddress",
        False,
    ), outcome
    for name in names:  # the hop that left public space, not the URL asked for
        assert name in outcome.message, outcome.message


@pytest.mark.parametrize("status", STATUSES)
@pytest.mark.parametrize(("target", "names"), PRIVATE_TARGETS)
async def test_a_redirect_to_a_private_address_is_refused_at_that_hop(
    target: str, names: tuple[str, ...], status: int, connections: list[tuple[str, int]]
) -> None:
    with SiteServer({"/hop": Response(status, b"", {"Location": target})}) as site:
        outcome = await fetch(guarded(), f"http://{PUBLIC}:{site.port}/hop")
        requested = site.counts()
    assert_refused(outcome, names)
    assert requested == {"/hop": 1}  # the public hop, once; nothing else
    # The guard raised before connecting: no connection but the public host's.
    assert connections and {addr for addr, _ in connections} == {"127.0.0.1"}, connections
    assert {port for _, port in connections} == {site.port}


@pytest.mark.parametrize("status", STATUSES)
async def test_a_two_hop_chain_is_refused_at_the_hop_that_leaves_public_space(
    status: int, connections: list[tuple[str, int]]
) -> None:
    metadata = "http://169.254.169.254/latest/meta-data/iam/security-credentials/"
    with SiteServer() as site:
        site.routes["/first"] = Response(
            status, b"", {"Location": f"http://{CDN}:{site.port}/second"}
        )
        site.routes["/second"] = Response(status, b"", {"Location": metadata})
        outcome = await fetch(guarded(), f"http://{PUBLIC}:{site.port}/first")
        requested = site.counts()
    assert_refused(outcome, ("169.254.169.254",))
    assert requested == {"/first": 1, "/second": 1}  # both public hops, each once
    assert connections and {addr for addr, _ in connections} == {"127.0.0.1"}, connections


async def test_the_same_chain_is_followed_to_a_public_end(
    connections: list[tuple[str, int]],
) -> None:
    # The control: the allowlisted "public" hops themselves pass the guard, so the
    # refusals above are the private hop's doing.
    page = Response(200, html_page("End", "<p>The end of a public chain.</p>"))
    with SiteServer({"/end": page}) as site:
        site.routes["/first"] = Response(302, b"", {"Location": f"http://{CDN}:{site.port}/end"})
        outcome = await fetch(guarded(), f"http://{PUBLIC}:{site.port}/first")
        requested = site.counts()
    assert isinstance(outcome, FetchedPage), outcome
    assert outcome.final_url == f"http://{CDN}:{site.port}/end"
    assert requested == {"/first": 1, "/end": 1}


async def test_without_the_guard_the_spy_sees_the_private_connection(
    connections: list[tuple[str, int]],
) -> None:
    # The control of the spy: with the guard off, the hop to 169.254.169.254 reaches the
    # backend (and the spy refuses it), so an empty record above means the guard held.
    target = "http://169.254.169.254/latest/meta-data/"
    with SiteServer({"/hop": Response(302, b"", {"Location": target})}) as site:
        outcome = await fetch(
            guarded(allow_private_networks=True, fetch_retries=0),
            f"http://{PUBLIC}:{site.port}/hop",
        )
    assert isinstance(outcome, Failure) and outcome.error_type == "FetchConnectionError"
    assert ("169.254.169.254", 80) in connections


@pytest.mark.parametrize(("target", "names"), PRIVATE_TARGETS)
async def test_with_robots_txt_on_the_refused_hop_is_still_blocked_address(
    target: str, names: tuple[str, ...], connections: list[tuple[str, int]]
) -> None:
    """As the pipeline runs by default (respect_robots): the private hop's robots.txt is
    refused by the guard too, and the URL must still fail as the permanent
    BlockedAddress, not as a robots.txt that is 'unavailable' (retryable)."""
    routes = {"/robots.txt": ROBOTS, "/hop": Response(302, b"", {"Location": target})}
    with SiteServer(routes) as site:
        outcome = await fetch(guarded(respect_robots=True), f"http://{PUBLIC}:{site.port}/hop")
        requested = site.counts()
    assert_refused(outcome, names)
    assert requested == {"/robots.txt": 1, "/hop": 1}
    assert connections and {addr for addr, _ in connections} == {"127.0.0.1"}, connections
