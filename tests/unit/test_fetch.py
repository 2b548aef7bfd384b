"""Fetch outcome classification on edge cases, with httpx's mock transport (no network)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import httpx
import pytest

from quarrycore.charset import decode_html
from quarrycore.fetch import Fetcher, classify_content_type, looks_like_html, retry_delay
from quarrycore.records import Batch, Failure, FetchedPage
from quarrycore.settings import QuarrySettings
from quarrycore.urls import normalize_url

PAGE = b"<!doctype html><html><body><p>hello</p></body></html>"
Handler = Callable[[httpx.Request], httpx.Response]


def settings(**overrides: object) -> QuarrySettings:
    base: dict[str, object] = {
        "fetch_backoff_base": 0.0,
        "fetch_retries": 2,
        "respect_robots": False,
        "max_body_bytes": 10_000,
        "max_redirects": 3,
    }
    return QuarrySettings(**{**base, **overrides})  # type: ignore[arg-type]


async def fetch(
    handler: Handler, url: str = "http://x/a", **overrides: object
) -> FetchedPage | Failure:
    async with Fetcher(settings(**overrides), transport=httpx.MockTransport(handler)) as f:
        return await f.fetch(url)


def counting(responses: list[httpx.Response | Exception]) -> tuple[Handler, list[int]]:
    calls = [0]

    def handler(request: httpx.Request) -> httpx.Response:
        item = responses[min(calls[0], len(responses) - 1)]
        calls[0] += 1
        if isinstance(item, Exception):
            raise item
        return item

    return handler, calls


@pytest.mark.parametrize(
    ("response", "error_type", "retryable", "status", "calls"),
    [
        (httpx.Response(404), "HTTPStatus", False, 404, 1),
        (httpx.Response(410), "HTTPStatus", False, 410, 1),
        (httpx.Response(503), "HTTPStatus", True, 503, 3),
        (httpx.Response(429), "HTTPStatus", True, 429, 3),
        (httpx.Response(408), "HTTPStatus", True, 408, 3),
        (httpx.ConnectTimeout("slow"), "FetchTimeout", True, None, 3),
        (httpx.ReadTimeout("slow"), "FetchTimeout", True, None, 3),
        (httpx.ConnectError("refused"), "FetchConnectionError", True, None, 3),
        (httpx.RemoteProtocolError("reset"), "FetchConnectionError", True, None, 3),
        (
            httpx.Response(200, content=b"%PDF-1.7", headers={"content-type": "application/pdf"}),
            "NotHTML",
            False,
            None,
            1,
        ),
        (
            httpx.Response(
                200, content=b"<html>\x00\x01</html>", headers={"content-type": "text/html"}
            ),
            "NotHTML",
            False,
            None,
            1,
        ),
        (
            httpx.Response(200, content=b"x" * 20_000, headers={"content-type": "text/html"}),
            "TooLarge",
            False,
            None,
            1,
        ),
    ],
)
async def test_each_failure_is_classified(
    response: httpx.Response | Exception,
    error_type: str,
    retryable: bool,
    status: int | None,
    calls: int,
) -> None:
    handler, count = counting([response])
    outcome = await fetch(handler)
    assert isinstance(outcome, Failure)
    assert (outcome.error_type, outcome.retryable, outcome.status_code, outcome.stage) == (
        error_type,
        retryable,
        status,
        "crawl",
    )
    assert count[0] == outcome.attempts == calls


async def test_transient_failures_then_success_is_a_page_with_its_attempts() -> None:
    handler, count = counting(
        [
            httpx.Response(503),
            httpx.Response(502),
            httpx.Response(200, content=PAGE, headers={"content-type": "text/html"}),
        ]
    )
    outcome = await fetch(handler)
    assert isinstance(outcome, FetchedPage)
    assert (outcome.attempts, count[0], outcome.status_code) == (3, 3, 200)


async def test_redirects_are_followed_and_capped() -> None:
    def chain(request: httpx.Request) -> httpx.Response:
        hops = {"/a": "/b", "/b": "http://x/c", "/c": "d"}
        if request.url.path in hops:
            return httpx.Response(302, headers={"location": hops[request.url.path]})
        return httpx.Response(200, content=PAGE, headers={"content-type": "text/html"})

    page = await fetch(chain)
    assert isinstance(page, FetchedPage) and page.final_url == "http://x/d"
    assert page.url == "http://x/a"

    handler, count = counting([httpx.Response(301, headers={"location": "/a"})])
    loop = await fetch(handler)
    assert isinstance(loop, Failure) and loop.error_type == "TooManyRedirects"
    assert count[0] == 4  # max_redirects=3: the first request and three hops

    bad = await fetch(lambda r: httpx.Response(302, headers={"location": "ftp://x/f"}))
    assert isinstance(bad, Failure) and bad.error_type == "InvalidURL"


async def test_a_streamed_body_without_length_is_cut_at_the_limit() -> None:
    sent = [0]

    async def endless() -> AsyncIterator[bytes]:
        yield b"<html><body>"
        while True:
            sent[0] += 1
            yield b"a" * 1000

    outcome = await fetch(
        lambda r: httpx.Response(200, headers={"content-type": "text/html"}, content=endless())
    )
    assert isinstance(outcome, Failure) and outcome.error_type == "TooLarge"
    assert sent[0] <= 11  # stopped reading just past 10,000 bytes


async def test_a_url_that_never_finishes_hits_the_deadline() -> None:
    async def stall(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(5)
        return httpx.Response(200)

    outcome = await fetch(stall, fetch_deadline=0.2, fetch_retries=0)  # type: ignore[arg-type]
    assert isinstance(outcome, Failure) and outcome.error_type == "FetchTimeout"


async def test_a_batch_gives_one_outcome_per_url() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.startswith("/ok"):
            return httpx.Response(200, content=PAGE, headers={"content-type": "text/html"})
        return httpx.Response(404)

    urls = (*tuple(f"http://x/ok{i}" for i in range(5)), "http://x/missing")
    async with Fetcher(settings(), transport=httpx.MockTransport(handler)) as fetcher:
        out = await fetcher.fetch_batch(Batch("j", 0, urls))
    assert sorted(p.url for p in out.pages) == sorted(urls[:5])
    assert [f.url for f in out.failures] == ["http://x/missing"]


def test_content_type_rules() -> None:
    assert classify_content_type("text/html; charset=utf-8", b"<p>") == "text/html"
    assert classify_content_type("application/xhtml+xml", b"<html") == "application/xhtml+xml"
    assert classify_content_type(None, b"  <!DOCTYPE html><html>") == "text/html"
    assert looks_like_html(b"\xef\xbb\xbf<html>") and not looks_like_html(b"GIF89a")
    for header, head in (
        ("image/png", b"\x89PNG"),
        (None, b"plain words"),
        ("text/plain", b"just text"),
    ):
        with pytest.raises(Exception, match="not HTML"):
            classify_content_type(header, head)


def test_retry_delay_is_bounded_full_jitter() -> None:
    for attempt in range(1, 8):
        cap = min(5.0, 0.5 * 2 ** (attempt - 1))
        delays = [retry_delay(attempt, base=0.5, cap=5.0) for _ in range(200)]
        assert all(0 <= d <= cap for d in delays) and max(delays) > cap / 2


def test_charset_and_url_edge_cases() -> None:
    assert decode_html("café".encode("utf-8-sig"), "text/html; charset=latin-1")[0] == "café"
    text, encoding = decode_html(
        "<meta charset=windows-1252>crème".encode("cp1252"), "text/html; charset=utf-8"
    )
    assert text.endswith("crème") and encoding == "cp1252"
    assert normalize_url("HTTP://Example.COM:80/a?b=2&a=1#x") == "http://example.com/a?a=1&b=2"
    assert normalize_url("https://bücher.de:443") == "https://xn--bcher-kva.de/"


def test_tracking_parameters_are_removed_unless_kept() -> None:
    url = "http://x.com/a?utm_source=tw&b=2&a=1&fbclid=zz#frag"
    assert normalize_url(url) == "http://x.com/a?a=1&b=2"
    kept = normalize_url(url, drop_params=frozenset())
    assert kept == "http://x.com/a?a=1&b=2&fbclid=zz&utm_source=tw"
