"""robots.txt, per-host spacing, Retry-After, the SSRF guard and size limits against
real servers on 127.0.0.1 (the fetcher alone; no Prefect needed)."""

from __future__ import annotations

import asyncio
import gzip
import itertools
import time
from typing import Any

import pytest

from quarrycore.fetch.client import Fetcher
from quarrycore.records import Batch, Failure, FetchedPage
from quarrycore.settings import QuarrySettings
from tests.support.siteserver import Response, SiteServer, html_page

PAGE = Response(200, html_page("Page", "<p>" + "Words of a page. " * 10 + "</p>"))


def settings(**overrides: Any) -> QuarrySettings:
    base: dict[str, Any] = {
        "fetch_backoff_base": 0.05,
        "fetch_retries": 2,
        "read_timeout": 1.0,
        "per_host_delay": 0.0,
        "allow_private_networks": True,
    }
    return QuarrySettings(**{**base, **overrides})


async def fetch_all(s: QuarrySettings, urls: list[str]) -> dict[str, FetchedPage | Failure]:
    async with Fetcher(s) as fetcher:
        out = await fetcher.fetch_batch(Batch.of("j", 0, urls))
    outcomes: list[FetchedPage | Failure] = [*out.pages, *out.failures]
    return {o.url: o for o in outcomes}


def error(outcome: FetchedPage | Failure) -> str | None:
    return outcome.error_type if isinstance(outcome, Failure) else None


async def test_robots_rules_and_crawl_delay_are_honoured() -> None:
    robots = b"User-agent: *\nDisallow: /private/\nCrawl-delay: 0.3\n"
    routes: dict[str, Any] = {"/robots.txt": Response(200, robots, {"Content-Type": "text/plain"})}
    routes |= {f"/public/{i}": PAGE for i in range(5)} | {f"/private/{i}": PAGE for i in range(3)}
    with SiteServer(routes) as site:
        outcomes = await fetch_all(
            settings(per_host_concurrency=8), [site.url(p) for p in routes if p != "/robots.txt"]
        )
        log = list(site.log)
    assert {error(outcomes[site.url(f"/private/{i}")]) for i in range(3)} == {"RobotsDisallowed"}
    assert all(isinstance(outcomes[site.url(f"/public/{i}")], FetchedPage) for i in range(5))
    paths = [p for _, p in log]
    assert paths.count("/robots.txt") == 1  # eight URLs started at once, one robots fetch
    assert not any(p.startswith("/private/") for p in paths)  # never requested
    starts = sorted(t for t, p in log if p.startswith("/public/"))
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert min(gaps) >= 0.3 - 0.02, gaps  # Crawl-delay 0.3 s, 20 ms tolerance


async def test_a_slow_robots_txt_fails_no_waiter_but_its_own() -> None:
    """The first URL to ask for robots.txt gives up (cancelled) while it is still loading:
    that must not cancel the other URLs waiting for the same robots.txt."""
    robots = Response(200, b"User-agent: *\nAllow: /\n", {"Content-Type": "text/plain"}, 0.8)
    routes: dict[str, Any] = {"/robots.txt": robots} | {f"/p/{i}": PAGE for i in range(6)}
    with SiteServer(routes) as site:
        urls = [site.url(f"/p/{i}") for i in range(6)]
        async with Fetcher(settings(per_host_concurrency=8)) as fetcher:
            waiters = [asyncio.create_task(fetcher.fetch(url)) for url in urls]
            while not site.count("/robots.txt"):  # the first asker is loading it now
                await asyncio.sleep(0.01)
            waiters[0].cancel()
            outcomes = await asyncio.gather(*waiters[1:])
        robots_fetches = site.count("/robots.txt")
    assert waiters[0].cancelled()
    assert all(isinstance(o, FetchedPage) for o in outcomes), outcomes
    assert robots_fetches == 1  # the shared fetch went on and served every other URL


@pytest.mark.parametrize(("status", "outcome"), [(404, None), (503, "RobotsUnavailable")])
async def test_robots_4xx_allows_and_5xx_means_retry_later(
    status: int, outcome: str | None
) -> None:
    routes = {"/robots.txt": Response(status, b"nope"), "/page": PAGE}
    with SiteServer(routes) as site:
        result = (await fetch_all(settings(), [site.url("/page")]))[site.url("/page")]
        asked = site.count("/page")
    assert error(result) == outcome
    if outcome:
        assert isinstance(result, Failure) and result.retryable and asked == 0


async def test_per_host_delay_spaces_requests_and_other_hosts_are_not_held() -> None:
    with (
        SiteServer({f"/{i}": PAGE for i in range(4)}) as slow_host,
        SiteServer({f"/{i}": PAGE for i in range(8)}, host="127.0.0.2") as fast_host,
    ):
        started = time.time()
        urls = [slow_host.url(f"/{i}") for i in range(4)] + [
            fast_host.url(f"/{i}") for i in range(8)
        ]
        # 0.4 s between two requests to one host: the slow host needs >= 1.2 s in all.
        outcomes = await fetch_all(
            settings(per_host_delay=0.4, per_host_concurrency=8, concurrency=4), urls
        )
        slow_times = sorted(t for t, _ in slow_host.log)
        fast_times = sorted(t for t, _ in fast_host.log)
    assert all(isinstance(o, FetchedPage) for o in outcomes.values())
    gaps = [b - a for a, b in itertools.pairwise(slow_times)]
    assert min(gaps) >= 0.4 - 0.02 and slow_times[-1] - started >= 1.2 - 0.05
    # The other host is spaced by its own clock only: its 8 requests need 2.8 s, and
    # waiting for the first host's turn never delays it by a whole extra slot.
    fast_gaps = [b - a for a, b in itertools.pairwise(fast_times)]
    assert max(fast_gaps) < 0.4 + 0.25, fast_gaps


async def test_a_broken_host_does_not_slow_the_others_beyond_a_bound() -> None:
    stuck = Response(200, b"", delay=3.0)  # answers after the 1 s read timeout
    with (
        SiteServer({f"/{i}": stuck for i in range(4)}) as broken,
        SiteServer({f"/{i}": PAGE for i in range(20)}, host="127.0.0.2") as healthy,
    ):
        started = time.time()
        outcomes = await fetch_all(
            settings(per_host_concurrency=2, concurrency=4, fetch_retries=1),
            [broken.url(f"/{i}") for i in range(4)] + [healthy.url(f"/{i}") for i in range(20)],
        )
        last_healthy = max(t for t, _ in healthy.log)
    assert {error(outcomes[broken.url(f"/{i}")]) for i in range(4)} == {"FetchTimeout"}
    # The broken host can hold at most its 2 per-host slots: the healthy one is done
    # in well under the broken host's first timeout.
    assert last_healthy - started < 1.0


async def test_circuit_breaker_pauses_a_failing_host_then_probes_it() -> None:
    def flaky(hits: int) -> Response:
        return Response(502, b"bad gateway") if hits <= 6 else PAGE

    routes: dict[str, Any] = {"/x": flaky}
    with SiteServer(routes) as site:
        outcomes = await fetch_all(
            settings(
                breaker_failures=3,
                breaker_cooldown=0.8,
                per_host_concurrency=1,
                fetch_retries=8,
                fetch_backoff_base=0.0,
                respect_robots=False,
            ),
            [site.url("/x")],
        )
        times = [t for t, _ in site.log]
    assert isinstance(outcomes[site.url("/x")], FetchedPage)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    # Three failures trip the breaker: a pause of >= 0.8 s after the 3rd and the 6th.
    assert gaps[2] >= 0.8 - 0.02 and gaps[5] >= 0.8 - 0.02
    assert max(gaps[:2] + gaps[3:5]) < 0.5


async def test_retry_after_pauses_the_host_for_that_long() -> None:
    def limited(hits: int) -> Response:
        if hits == 1:
            return Response(429, b"slow down", {"Retry-After": "1"})
        return PAGE

    with SiteServer({"/limited": limited, "/other": PAGE}) as site:
        outcomes = await fetch_all(
            settings(fetch_backoff_base=0.01), [site.url("/limited"), site.url("/other")]
        )
        times = [t for t, p in site.log if p == "/limited"]
    assert isinstance(outcomes[site.url("/limited")], FetchedPage)
    assert len(times) == 2 and times[1] - times[0] >= 1.0 - 0.02


async def test_waiting_for_the_hosts_turn_does_not_count_against_the_deadline() -> None:
    # Crawl-delay 0.4 s with 10 URLs of one host: the last one waits ~3.6 s for its turn,
    # far past fetch_deadline; each request itself takes milliseconds.
    robots = b"User-agent: *\nCrawl-delay: 0.4\n"
    routes: dict[str, Any] = {"/robots.txt": Response(200, robots, {"Content-Type": "text/plain"})}
    routes |= {f"/p/{i}": PAGE for i in range(10)}
    with SiteServer(routes) as site:
        urls = [site.url(f"/p/{i}") for i in range(10)]
        outcomes = await fetch_all(settings(per_host_concurrency=4, fetch_deadline=1.0), urls)
        requested = site.counts()
    assert all(isinstance(outcomes[u], FetchedPage) for u in urls), outcomes
    assert all(requested[f"/p/{i}"] == 1 for i in range(10))


async def test_a_retry_after_pause_longer_than_the_deadline_fails_no_url() -> None:
    def limited(hits: int) -> Response:
        if hits == 1:
            return Response(503, b"busy", {"Retry-After": "2"})
        return PAGE

    routes: dict[str, Any] = {"/first": limited} | {f"/p/{i}": PAGE for i in range(5)}
    with SiteServer(routes) as site:
        urls = [site.url("/first")] + [site.url(f"/p/{i}") for i in range(5)]
        # One at a time: the others queue behind the paused host, never requested early.
        outcomes = await fetch_all(
            settings(per_host_concurrency=1, fetch_deadline=1.0, fetch_backoff_base=0.01), urls
        )
    assert all(isinstance(outcomes[u], FetchedPage) for u in urls), outcomes


async def test_ssrf_guard_refuses_private_addresses_and_redirects_to_them() -> None:
    with (
        SiteServer({"/secret": PAGE}) as internal,
        SiteServer(
            {"/hop": Response(302, b"", {"Location": "PLACEHOLDER"})}, host="127.0.0.2"
        ) as public,
    ):
        public.routes["/hop"] = Response(302, b"", {"Location": internal.url("/secret")})
        hop = f"http://public.test:{public.port}/hop"
        guarded = settings(
            allow_private_networks=False,
            host_overrides={"public.test": "127.0.0.2"},
            private_network_allowlist=["127.0.0.2/32"],
            respect_robots=False,
        )
        outcomes = await fetch_all(guarded, [internal.url("/secret"), hop])
        assert error(outcomes[internal.url("/secret")]) == "BlockedAddress"
        assert error(outcomes[hop]) == "BlockedAddress"  # the redirect target is checked too
        assert public.count("/hop") == 1 and internal.count("/secret") == 0
        hop_failure = outcomes[hop]
        assert isinstance(hop_failure, Failure)
        assert not hop_failure.retryable

        allowed = await fetch_all(
            settings(respect_robots=False, host_overrides={"public.test": "127.0.0.2"}), [hop]
        )
        assert isinstance(allowed[hop], FetchedPage) and internal.count("/secret") == 1


async def test_a_gzip_bomb_is_cut_at_the_limit() -> None:
    bomb = gzip.compress(b"<html><body>" + b" " * 50_000_000, compresslevel=9)
    headers = {"Content-Type": "text/html", "Content-Encoding": "gzip"}
    with SiteServer({"/bomb": Response(200, bomb, headers)}) as site:
        started = time.perf_counter()
        outcome = (await fetch_all(settings(max_body_bytes=1_000_000), [site.url("/bomb")]))[
            site.url("/bomb")
        ]
        elapsed = time.perf_counter() - started
    assert len(bomb) < 100_000
    assert error(outcome) == "TooLarge" and elapsed < 2.0
