"""Fetch outcomes on edge cases, with httpx's mock transport (no network, no Prefect)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

import httpx
import pytest

from quarrycore.exceptions import NotHTML
from quarrycore.fetch.client import Fetcher, retry_delay
from quarrycore.fetch.content import classify_content_type, looks_like_html
from quarrycore.records import Batch, Failure, FetchedPage
from quarrycore.settings import QuarrySettings

PAGE = b"<!doctype html><html><body><p>hello</p></body></html>"
HTML = {"content-type": "text/html; charset=utf-8"}
Sync = Callable[[httpx.Request], httpx.Response]
Handler = Sync | Callable[[httpx.Request], Coroutine[None, None, httpx.Response]]


def settings(**overrides: object) -> QuarrySettings:
    # No robots.txt (its requests would reach the handler too) and no per-host spacing.
    base: dict[str, Any] = dict(
        fetch_backoff_base=0.0, fetch_retries=2, max_body_bytes=10_000, max_redirects=3
    )
    base |= dict(extract_workers=0, respect_robots=False, per_host_delay=0.0)
    return QuarrySettings(**{**base, **overrides})


def ok(body: bytes = PAGE, content_type: str = HTML["content-type"]) -> httpx.Response:
    return httpx.Response(200, content=body, headers={"content-type": content_type})


async def fetch(handler: Handler, url: str = "http://x/a", **overrides: object) -> object:
    async with Fetcher(settings(**overrides), transport=httpx.MockTransport(handler)) as f:
        return await f.fetch(url)


def scripted(responses: list[httpx.Response | Exception]) -> tuple[Sync, list[str]]:
    """A handler answering from ``responses`` (the last repeats); records requested URLs."""
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        item = responses[min(len(calls), len(responses) - 1)]
        calls.append(str(request.url))
        if isinstance(item, Exception):
            raise item
        return item

    return handler, calls


def summary(outcome: object) -> tuple[str, bool, int | None, int]:
    assert isinstance(outcome, Failure), outcome
    return outcome.error_type, outcome.retryable, outcome.status_code, outcome.attempts


async def stream(parts: list[bytes], pulled: list[int] | None = None) -> AsyncIterator[bytes]:
    for part in parts:
        (pulled if pulled is not None else []).append(len(part))
        yield part


async def test_200_html_is_a_page() -> None:
    handler, calls = scripted([ok(body := "<html><body><p>crème</p></body></html>".encode())])
    page = await fetch(handler, "http://x/a?q=1")
    assert isinstance(page, FetchedPage)
    assert (page.url, page.final_url, page.status_code) == ("http://x/a?q=1", "http://x/a?q=1", 200)
    assert (page.html, page.encoding, page.content_type) == (body.decode(), "utf-8", "text/html")
    assert page.attempts == 1 and calls == ["http://x/a?q=1"]
    assert page.fetched_at.tzinfo is not None


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        (httpx.Response(404), ("HTTPStatus", False, 404, 1)),
        (httpx.Response(410), ("HTTPStatus", False, 410, 1)),
        (httpx.Response(503), ("HTTPStatus", True, 503, 3)),
        (httpx.Response(500), ("HTTPStatus", True, 500, 3)),
        (httpx.Response(429), ("HTTPStatus", True, 429, 3)),
        (httpx.Response(408), ("HTTPStatus", True, 408, 3)),
        (httpx.Response(302), ("HTTPStatus", False, 302, 1)),  # a redirect without Location
        (httpx.ConnectTimeout("slow"), ("FetchTimeout", True, None, 3)),
        (httpx.ReadTimeout("slow"), ("FetchTimeout", True, None, 3)),
        (httpx.ConnectError("refused"), ("FetchConnectionError", True, None, 3)),
        (httpx.RemoteProtocolError("reset"), ("FetchConnectionError", True, None, 3)),
        (ok(b"\x89PNG\r\n", "application/octet-stream"), ("NotHTML", False, None, 1)),
        (ok(b"%PDF-1.7", "application/pdf"), ("NotHTML", False, None, 1)),
        (ok(b"<html>\x00\x01</html>"), ("NotHTML", False, None, 1)),
        (ok(b"<p>" * 4000), ("TooLarge", False, None, 1)),  # Content-Length 12000 > 10000
    ],
)
async def test_each_failure_is_classified(
    response: httpx.Response | Exception, expected: tuple[str, bool, int | None, int]
) -> None:
    handler, calls = scripted([response])
    outcome = await fetch(handler)
    assert summary(outcome) == expected
    assert isinstance(outcome, Failure) and outcome.stage == "crawl"
    assert len(calls) == outcome.attempts


async def test_transient_failures_then_success_is_a_page_with_its_attempts() -> None:
    handler, calls = scripted([httpx.Response(503), httpx.Response(503), ok()])
    page = await fetch(handler)
    assert isinstance(page, FetchedPage)
    assert (page.attempts, len(calls), page.status_code, page.html) == (3, 3, 200, PAGE.decode())


async def test_a_permanent_failure_stops_the_retries() -> None:
    handler, calls = scripted([httpx.Response(503), httpx.Response(404), httpx.Response(200)])
    assert summary(await fetch(handler)) == ("HTTPStatus", False, 404, 2)
    assert len(calls) == 2


async def test_retry_after_pause_is_capped_by_max_retry_after() -> None:
    handler, calls = scripted([httpx.Response(429, headers={"retry-after": "3600"}), ok()])
    started = time.monotonic()
    page = await fetch(handler, max_retry_after=0.05)
    assert isinstance(page, FetchedPage) and page.attempts == 2 == len(calls)
    assert time.monotonic() - started < 5  # the hour-long Retry-After was capped


@pytest.mark.parametrize("code", [301, 302, 303, 307, 308])
async def test_redirect_chain_gives_the_last_hop(code: int) -> None:
    hops = {"/a": (302, "b?utm_source=tw"), "/b": (code, "HTTP://Other.Example:80/c#frag")}

    def handler(request: httpx.Request) -> httpx.Response:
        requested.append(str(request.url))
        if request.url.path in hops:
            status, location = hops[request.url.path]
            return httpx.Response(status, headers={"location": location})
        return ok()

    requested: list[str] = []
    page = await fetch(handler)
    assert isinstance(page, FetchedPage)
    assert (page.url, page.final_url, page.attempts) == ("http://x/a", "http://other.example/c", 1)
    assert requested == ["http://x/a", "http://x/b", "http://other.example/c"]


@pytest.mark.parametrize("max_redirects", [0, 3])
async def test_a_redirect_loop_is_too_many_redirects(max_redirects: int) -> None:
    handler, calls = scripted([httpx.Response(301, headers={"location": "/a"})])
    outcome = await fetch(handler, max_redirects=max_redirects)
    assert summary(outcome) == ("TooManyRedirects", False, None, 1)
    assert len(calls) == max_redirects + 1


async def test_a_redirect_to_ftp_is_an_invalid_url() -> None:
    handler, calls = scripted([httpx.Response(302, headers={"location": "ftp://x/file"})])
    assert summary(await fetch(handler)) == ("InvalidURL", False, None, 1)
    assert calls == ["http://x/a"]


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/octet-stream"])
async def test_html_without_an_html_content_type_is_sniffed(content_type: str | None) -> None:
    headers = {"content-type": content_type} if content_type else {}
    body = b"\n  <!DOCTYPE html><html><body><p>hi</p></body></html>"
    page = await fetch(lambda r: httpx.Response(200, content=body, headers=headers))
    assert isinstance(page, FetchedPage)
    assert (page.content_type, page.html) == ("text/html", body.decode())
    text = await fetch(lambda r: httpx.Response(200, content=b"just words", headers=headers))
    assert summary(text) == ("NotHTML", False, None, 1)


@pytest.mark.parametrize("kilobytes", [9, 100])
async def test_a_streamed_body_is_cut_at_the_limit(kilobytes: int) -> None:
    parts = [b"<html><body>", *[b"a" * 1000] * kilobytes]
    pulled: list[int] = []
    seen: list[httpx.Response] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(httpx.Response(200, headers=HTML, content=stream(parts, pulled)))
        return seen[-1]

    outcome = await fetch(handler)
    assert "content-length" not in seen[0].headers  # the limit is not learnt from a header
    if kilobytes == 9:  # 9,012 bytes: under the 10,000-byte limit
        assert isinstance(outcome, FetchedPage) and outcome.html == b"".join(parts).decode()
    else:
        assert summary(outcome) == ("TooLarge", False, None, 1)
        assert sum(pulled) <= 10_000 + 1000  # stopped at the chunk that crossed the limit


async def test_sniffing_does_not_depend_on_chunk_boundaries() -> None:
    parts = [b"<!DOCTYPE", b" html><html><body><p>hi</p></body></html>"]
    page = await fetch(lambda r: httpx.Response(200, content=stream(parts)))
    assert isinstance(page, FetchedPage) and page.content_type == "text/html"


@pytest.mark.parametrize("retries", [0, 1])
async def test_a_url_that_never_finishes_hits_the_deadline(retries: int) -> None:
    calls: list[str] = []

    async def stall(request: httpx.Request) -> httpx.Response:
        calls.append(str(request.url))
        await asyncio.sleep(30)
        return ok()

    started = time.monotonic()
    outcome = await fetch(stall, fetch_deadline=0.2, fetch_retries=retries)
    assert time.monotonic() - started < 5
    assert summary(outcome) == ("FetchTimeout", True, None, retries + 1)
    assert len(calls) == retries + 1


async def test_a_batch_gives_one_outcome_per_url() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.startswith("/ok"):
            return ok()
        if request.url.path == "/binary":
            return ok(b"\x00\x01", "image/png")
        return httpx.Response(404)

    urls = (*(f"http://x/ok{i}" for i in range(5)), "http://x/missing", "http://y/binary")
    async with Fetcher(settings(), transport=httpx.MockTransport(handler)) as fetcher:
        out = await fetcher.fetch_batch(Batch.of("job", 0, urls))
    assert len(out.pages) + len(out.failures) == len(urls)
    assert sorted(p.url for p in out.pages) == sorted(urls[:5])
    assert {(f.url, f.error_type) for f in out.failures} == {
        ("http://x/missing", "HTTPStatus"),
        ("http://y/binary", "NotHTML"),
    }


def test_looks_like_html_and_classify_content_type() -> None:
    for head in (b"<!DOCTYPE html>", b"\xef\xbb\xbf\r\n\t <html lang=en>", b"<HEAD>", b"<body>",
                 b"<!-- x -->"):  # fmt: skip
        assert looks_like_html(head), head
        assert classify_content_type(None, head) == "text/html"
        assert classify_content_type("text/plain", head) == "text/html"
        assert classify_content_type("application/octet-stream", head) == "text/html"
    for head in (b"<!doctype html>\x00", b"GIF89a", b"plain words <html>", b""):
        assert not looks_like_html(head), head
    assert classify_content_type("TEXT/HTML; charset=utf-8", b"words") == "text/html"
    assert classify_content_type("application/xhtml+xml", b"<x") == "application/xhtml+xml"
    for header, head in (("image/png", b"\x89PNG"), ("application/json", b"<html>"),
                         ("text/html", b"<html>\x00"), (None, b"plain words <html>"),
                         ("text/plain", b""), ("application/octet-stream", b"<html>\x00"),
                         ("text/plain", b"GIF89a")):  # fmt: skip
        with pytest.raises(NotHTML):
            classify_content_type(header, head)


@pytest.mark.parametrize(("base", "cap"), [(0.5, 5.0), (1.0, 0.25), (0.0, 30.0)])
def test_retry_delay_is_bounded_full_jitter(base: float, cap: float) -> None:
    for attempt in range(1, 9):
        bound = min(cap, base * 2 ** (attempt - 1))
        delays = [retry_delay(attempt, base=base, cap=cap) for _ in range(200)]
        assert all(0 <= d <= bound for d in delays)
        assert bound == 0 or max(delays) > bound / 2  # jittered over the whole range


def test_retry_delay_draws_from_zero_to_the_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    drawn: list[tuple[float, float]] = []

    def highest(low: float, high: float) -> float:
        drawn.append((low, high))
        return high

    monkeypatch.setattr("quarrycore.fetch.client.random.uniform", highest)
    assert [retry_delay(n, base=0.5, cap=3.0) for n in (1, 2, 3, 4, 5)] == [0.5, 1, 2, 3, 3]
    assert drawn == [(0, 0.5), (0, 1.0), (0, 2.0), (0, 3.0), (0, 3.0)]
