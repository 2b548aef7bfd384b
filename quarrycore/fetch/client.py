"""Fetching a batch of URLs: bounded concurrency, limits, and one outcome per URL."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from dataclasses import replace
from datetime import UTC, datetime
from types import TracebackType
from urllib.parse import urljoin

import httpx

from quarrycore.exceptions import (
    FetchConnectionError,
    FetchTimeout,
    HTTPStatus,
    InvalidURL,
    TooLarge,
    TooManyRedirects,
    URLFailure,
)
from quarrycore.fetch.content import SNIFF_BYTES, classify_content_type, html_page
from quarrycore.fetch.decoding import ACCEPT_ENCODING, body_pieces
from quarrycore.fetch.netguard import AddressPolicy, GuardedBackend, GuardedTransport
from quarrycore.fetch.politeness import HostGate, HostGates, parse_retry_after
from quarrycore.fetch.robots import ROBOTS_MAX_BYTES, RobotsCache
from quarrycore.records import (
    NO_VALIDATORS,
    Batch,
    Exchange,
    Failure,
    FetchedPage,
    NotModified,
    Validators,
)
from quarrycore.settings import QuarrySettings
from quarrycore.urls import host_of, normalize_url

logger = logging.getLogger("quarrycore.fetch")

_REDIRECT_CODES = frozenset({301, 302, 303, 307, 308})


def retry_delay(attempt: int, *, base: float, cap: float) -> float:
    """Exponential backoff with full jitter for the ``attempt``-th retry (1-based)."""
    return random.uniform(0, min(cap, base * 2 ** (attempt - 1)))


class Fetcher:
    """An HTTP client for one run: shared connection pool and concurrency limits."""

    def __init__(
        self, settings: QuarrySettings, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self._settings = settings
        timeout = httpx.Timeout(
            connect=settings.connect_timeout,
            read=settings.read_timeout,
            write=settings.read_timeout,
            pool=None,  # waiting for a pooled connection is bounded by our semaphores
        )
        limits = httpx.Limits(
            max_connections=settings.concurrency,
            max_keepalive_connections=settings.concurrency,
        )
        self._backend: GuardedBackend | None = None
        if transport is None:
            policy = AddressPolicy(
                allow_private=settings.allow_private_networks,
                allowlist=settings.private_network_allowlist,
            )
            self._backend = GuardedBackend(
                policy,
                host_overrides=settings.host_overrides,
                resolvers=min(32, settings.concurrency),
            )
            transport = GuardedTransport(self._backend, limits=limits)
        self._client = httpx.AsyncClient(
            timeout=timeout,
            limits=limits,
            headers={
                "User-Agent": settings.user_agent,
                "Accept": "text/html,*/*;q=0.5",
                "Accept-Encoding": ACCEPT_ENCODING,
            },
            follow_redirects=False,  # followed by hand so each hop is validated
            transport=transport,
            trust_env=False,
        )
        self._slots = asyncio.Semaphore(settings.concurrency)
        self._gates = HostGates(self._new_gate, limit=settings.max_hosts)
        self._robots = (
            RobotsCache(
                self._fetch_robots,
                user_agent=settings.user_agent,
                ttl=settings.robots_ttl,
                max_entries=settings.max_hosts,
            )
            if settings.respect_robots
            else None
        )

    async def __aenter__(self) -> Fetcher:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()
        if self._backend is not None:
            self._backend.close()

    async def fetch_batch(self, batch: Batch) -> Batch:
        """The batch with each open URL fetched: a page, or a failure with its reason."""
        records = [record for record in batch.records if record.open]
        return batch.advance(
            await asyncio.gather(*(self.fetch(r.url, r.validators) for r in records))
        )

    async def fetch(
        self, url: str, validators: Validators = NO_VALIDATORS
    ) -> FetchedPage | NotModified | Failure:
        """Fetch one URL, retrying transient failures with backoff; never raises for
        a failure of the URL itself. With ``validators`` (a revisit), the request is
        conditional and an unchanged page is :class:`NotModified`."""
        settings = self._settings
        attempt = 0
        while True:
            attempt += 1
            try:
                page = await self._fetch_once(url, validators)
            except URLFailure as exc:
                error = exc
            else:
                if attempt == 1 or isinstance(page, NotModified):
                    return page
                return replace(page, attempts=attempt)
            if not error.retryable or attempt > settings.fetch_retries:
                return Failure.from_error(url, error, attempts=attempt)
            # Sleep outside the concurrency slots so a waiting retry blocks nobody.
            await asyncio.sleep(
                retry_delay(
                    attempt, base=settings.fetch_backoff_base, cap=settings.fetch_backoff_max
                )
            )

    def gate(self, url: str) -> HostGate:
        return self._gates.get(host_of(url))

    def _new_gate(self) -> HostGate:
        return HostGate(
            concurrency=self._settings.per_host_concurrency,
            delay=self._settings.per_host_delay,
            breaker_failures=self._settings.breaker_failures,
            breaker_cooldown=self._settings.breaker_cooldown,
        )

    async def _fetch_once(self, url: str, validators: Validators) -> FetchedPage | NotModified:
        """One try of ``url``, redirects followed. ``fetch_deadline`` bounds the time in
        requests (connect to last byte, every hop), not the time queued for the host's
        turn: a Crawl-delay, a Retry-After pause or a slow robots.txt make URLs wait,
        never fail, and a URL is never failed without a request."""
        deadline = self._settings.fetch_deadline
        spent = 0.0
        current = url
        hops: list[Exchange] | None = [] if self._settings.warc else None
        for _hop in range(self._settings.max_redirects + 1):
            gate = self.gate(current)
            if self._robots is not None:
                crawl_delay = await self._robots.check(current)
                if crawl_delay:
                    gate.slow_down_to(crawl_delay)
            # The host's turn first, then a global slot: waiting for a slow or paused
            # host never holds a slot that another host could use.
            async with gate.slot(), self._slots:
                started = time.monotonic()
                try:
                    async with asyncio.timeout(deadline - spent):
                        location = await self._request(
                            url, current, hops, validators if current == url else NO_VALIDATORS
                        )
                except TimeoutError:
                    gate.record(ok=False)
                    raise FetchTimeout(f"no complete response within {deadline:g} s") from None
                except URLFailure as exc:
                    # Only the host's own trouble counts against it, not a 404.
                    gate.record(ok=not exc.retryable)
                    raise
                gate.record(ok=True)
                spent += time.monotonic() - started
            if not isinstance(location, str):
                return location
            current = location
        raise TooManyRedirects(f"more than {self._settings.max_redirects} redirects")

    async def robots_sitemaps(self, origin: str) -> list[str]:
        return await self._robots.sitemaps(origin) if self._robots is not None else []

    async def fetch_bytes(self, url: str) -> bytes | None:
        """A non-HTML resource (a sitemap): the body, or None when it cannot be had.
        Limits, the SSRF guard and the host's politeness apply; robots.txt too."""
        try:
            if self._robots is not None:
                await self._robots.check(url)
            async with (
                self.gate(url).slot(),
                self._slots,
                self._client.stream("GET", url, follow_redirects=True) as response,
            ):
                if not 200 <= response.status_code < 300:
                    return None
                return await self._read_limited(response, html=False)
        except (URLFailure, httpx.HTTPError):
            return None

    async def _fetch_robots(self, robots_url: str) -> tuple[int, bytes]:
        body = b""
        # The same deadline as a page's request; past it robots.txt is unavailable.
        async with (
            self.gate(robots_url).slot(),
            self._slots,
            asyncio.timeout(self._settings.fetch_deadline),
            self._client.stream("GET", robots_url, follow_redirects=True) as response,
        ):
            async for chunk in body_pieces(response):
                body += chunk
                if len(body) > ROBOTS_MAX_BYTES:
                    break
            return response.status_code, body

    async def _request(
        self, url: str, current: str, hops: list[Exchange] | None, validators: Validators
    ) -> FetchedPage | NotModified | str:
        """One HTTP exchange: the page, the next URL of a redirect, or (conditional, with
        ``validators``) the page unchanged. With ``hops`` (archiving), each exchange that
        makes the page is added to it."""
        try:
            async with self._client.stream(
                "GET", current, headers=_conditional(validators)
            ) as response:
                status = response.status_code
                if status == 304 and validators:
                    return NotModified(url, datetime.now(UTC), _validators(response))
                if status in _REDIRECT_CODES and "location" in response.headers:
                    if hops is not None:
                        hops.append(_exchange(response, b"", body_read=False))
                    target = urljoin(current, response.headers["location"])
                    return normalize_url(target, drop_params=self._settings.drop_params)
                if not 200 <= status < 300:
                    if status in (429, 503):
                        wait = parse_retry_after(response.headers.get("retry-after"))
                        if wait is not None:
                            wait = min(wait, self._settings.max_retry_after)
                            self.gate(current).pause(wait)
                            logger.info(
                                "%s answered %d, Retry-After %.0f s: its URLs wait that long",
                                host_of(current),
                                status,
                                wait,
                            )
                    raise HTTPStatus(f"HTTP {status} from {current}", status_code=status)
                raw: list[bytes] | None = [] if hops is not None else None
                body = await self._read_limited(response, raw=raw)
                exchanges: tuple[Exchange, ...] = ()
                if hops is not None and raw is not None:
                    exchanges = (*hops, _exchange(response, b"".join(raw)))
                page = html_page(
                    url=url,
                    final_url=current,
                    status_code=status,
                    content_type=response.headers.get("content-type"),
                    body=body,
                    fetched_at=datetime.now(UTC),
                    exchanges=exchanges,
                )
                return replace(page, validators=_validators(response))
        except InvalidURL as exc:
            raise InvalidURL(f"redirect to an invalid URL: {exc.message}") from exc
        except httpx.TimeoutException as exc:
            raise FetchTimeout(f"{type(exc).__name__} fetching {current}") from exc
        except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
            raise InvalidURL(f"cannot fetch {current}: {exc}") from exc
        except httpx.DecodingError as exc:
            raise FetchConnectionError(f"undecodable response body from {current}: {exc}") from exc
        except httpx.TransportError as exc:
            raise FetchConnectionError(f"{type(exc).__name__} fetching {current}: {exc}") from exc

    async def _read_limited(
        self, response: httpx.Response, *, html: bool = True, raw: list[bytes] | None = None
    ) -> bytes:
        limit = self._settings.max_body_bytes
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise TooLarge(f"Content-Length {declared} exceeds {limit} bytes")
        chunks: list[bytes] = []
        size = 0
        # Decoded a bounded piece at a time: a compression bomb is cut at the limit, not
        # after httpx inflated a whole network read (64 KiB of gzip became 67 MB).
        sniffed = not html
        async for chunk in body_pieces(response, raw=raw):
            size += len(chunk)
            if size > limit:
                raise TooLarge(f"body exceeds {limit} bytes")
            chunks.append(chunk)
            if not sniffed and size >= SNIFF_BYTES:
                # Refuse binary early rather than download megabytes of it; sniff the
                # first KiB whatever the chunking (the end of the body is sniffed anyway).
                head = b"".join(chunks)[:SNIFF_BYTES]
                classify_content_type(response.headers.get("content-type"), head)
                sniffed = True
        return b"".join(chunks)


def _exchange(response: httpx.Response, body: bytes, *, body_read: bool = True) -> Exchange:
    """The request and the response as received, for the archive."""
    request = response.request
    return Exchange(
        url=str(request.url),
        request_headers=tuple(
            (k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw
        ),
        http_version=response.http_version,
        status_code=response.status_code,
        reason=response.reason_phrase,
        response_headers=tuple(
            (k.decode("latin-1"), v.decode("latin-1")) for k, v in response.headers.raw
        ),
        body=body,
        fetched_at=datetime.now(UTC),
        body_read=body_read,
    )


def _conditional(validators: Validators) -> dict[str, str]:
    """The headers of a conditional GET (RFC 9110 13.1): the stored validators."""
    headers = {}
    if validators.etag:
        headers["If-None-Match"] = validators.etag
    if validators.last_modified:
        headers["If-Modified-Since"] = validators.last_modified
    return headers


def _validators(response: httpx.Response) -> Validators:
    return Validators(
        etag=response.headers.get("etag"), last_modified=response.headers.get("last-modified")
    )
