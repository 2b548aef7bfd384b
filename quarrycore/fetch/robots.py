"""robots.txt (RFC 9309) of each origin, parsed with protego and cached."""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from protego import Protego

from quarrycore.exceptions import BlockedAddress, RobotsDisallowed, RobotsUnavailable

# RFC 9309: crawlers should parse at least 500 KiB; we read no more than that.
ROBOTS_MAX_BYTES = 500 * 1024
_UNAVAILABLE_TTL = 60.0  # a 5xx/unreachable robots.txt is asked again after a minute


@dataclass(slots=True)
class _RobotsEntry:
    parser: Protego | None  # None: allow all (robots.txt missing, 4xx)
    unavailable: str | None  # why it could not be read (5xx, unreachable)
    expires: float
    blocked: BlockedAddress | None = None  # the origin itself is refused by the SSRF guard


RobotsFetch = Callable[[str], Awaitable[tuple[int, bytes]]]


class RobotsCache:
    """robots.txt of each origin, fetched once (concurrent askers share the fetch) and
    kept for ``ttl`` seconds. 4xx: allow all. 5xx or unreachable: the host's URLs fail
    as retryable ``RobotsUnavailable`` (RFC 9309), never allow-all."""

    def __init__(
        self, fetch: RobotsFetch, *, user_agent: str, ttl: float, max_entries: int = 10_000
    ) -> None:
        self._fetch = fetch
        self._agent = user_agent.split("/", 1)[0].strip() or user_agent
        self._ttl = ttl
        self._max_entries = max_entries  # least recently used ones forgotten past it
        self._entries: OrderedDict[str, _RobotsEntry] = OrderedDict()
        self._loading: dict[str, asyncio.Task[_RobotsEntry]] = {}

    async def check(self, url: str) -> float | None:
        """Raise if ``url`` may not be fetched now; return the origin's Crawl-delay."""
        parts = urlsplit(url)
        entry = await self._entry(f"{parts.scheme}://{parts.netloc}")
        if entry.blocked is not None:
            # Not "robots.txt unavailable, retry later": the host is refused, for good.
            raise BlockedAddress(entry.blocked.message, host=entry.blocked.host)
        if entry.unavailable is not None:
            raise RobotsUnavailable(entry.unavailable)
        if entry.parser is None:
            return None
        if not entry.parser.can_fetch(url, self._agent):
            raise RobotsDisallowed(f"robots.txt of {parts.netloc} disallows {parts.path or '/'}")
        delay = entry.parser.crawl_delay(self._agent)
        return float(delay) if delay is not None else None

    async def sitemaps(self, origin: str) -> list[str]:
        """The ``Sitemap:`` lines of the origin's robots.txt."""
        entry = await self._entry(origin)
        return list(entry.parser.sitemaps) if entry.parser is not None else []

    async def _entry(self, origin: str) -> _RobotsEntry:
        entry = self._entries.get(origin)
        if entry is not None and entry.expires > time.monotonic():
            self._entries.move_to_end(origin)
            return entry
        loading = self._loading.get(origin)
        if loading is None:
            # A task of its own, not the first asker's: an asker that gives up (its
            # deadline) cancels only its own wait, never the fetch the others share.
            loading = asyncio.create_task(self._load(origin), name=f"robots {origin}")
            self._loading[origin] = loading
            loading.add_done_callback(lambda done: self._loaded(origin, done))
        return await asyncio.shield(loading)

    def _loaded(self, origin: str, done: asyncio.Task[_RobotsEntry]) -> None:
        del self._loading[origin]
        if not done.cancelled() and done.exception() is None:
            self._entries[origin] = done.result()
            self._entries.move_to_end(origin)
            while len(self._entries) > self._max_entries:
                self._entries.popitem(last=False)

    async def _load(self, origin: str) -> _RobotsEntry:
        now = time.monotonic()
        try:
            status, body = await self._fetch(f"{origin}/robots.txt")
        except BlockedAddress as exc:
            if exc.host is not None and exc.host == urlsplit(origin).hostname:
                return _RobotsEntry(None, None, now + self._ttl, blocked=exc)
            reason = f"robots.txt of {origin} redirects to a refused address: retry later"
            return _RobotsEntry(None, reason, now + _UNAVAILABLE_TTL)
        except Exception as exc:
            reason = f"robots.txt of {origin} unreachable ({type(exc).__name__}): retry later"
            return _RobotsEntry(None, reason, now + _UNAVAILABLE_TTL)
        if 200 <= status < 300:
            text = body[:ROBOTS_MAX_BYTES].decode("utf-8", errors="replace")
            return _RobotsEntry(Protego.parse(text), None, now + self._ttl)
        if 400 <= status < 500:
            return _RobotsEntry(None, None, now + self._ttl)
        reason = f"robots.txt of {origin} answered HTTP {status}: retry later"
        return _RobotsEntry(None, reason, now + _UNAVAILABLE_TTL)

    def __len__(self) -> int:
        return len(self._entries)
