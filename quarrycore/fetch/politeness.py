"""Per-host politeness: concurrency, spacing of request starts, Retry-After pauses and a
circuit breaker (robots.txt is quarrycore/fetch/robots.py)."""

from __future__ import annotations

import asyncio
import email.utils
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime

logger = logging.getLogger("quarrycore.fetch")
MAX_CRAWL_DELAY = 60.0  # a robots.txt Crawl-delay is honoured up to this (s)


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


class HostQueue:
    """URLs of this process waiting for their host's turn (a slot, a Crawl-delay, a
    Retry-After pause, a breaker cool-down): how many, and since when the oldest. The
    progress line shows it, so a run that waits on a paused host is seen waiting."""

    def __init__(self) -> None:
        self._since: dict[int, float] = {}
        self._next = 0
        self._lock = threading.Lock()  # the progress line reads it from its own thread

    def enter(self) -> int:
        with self._lock:
            self._next += 1
            self._since[self._next] = time.monotonic()
            return self._next

    def leave(self, ticket: int) -> None:
        with self._lock:
            self._since.pop(ticket, None)

    def snapshot(self) -> tuple[int, float]:
        """(URLs waiting, seconds the longest has waited)."""
        with self._lock:
            since = list(self._since.values())
        if not since:
            return 0, 0.0
        return len(since), time.monotonic() - min(since)


HOST_QUEUE = HostQueue()  # one per process: every fetcher's gates report here


class HostGate:
    """One host's concurrency cap, minimum spacing of request starts, and pause."""

    def __init__(
        self,
        *,
        concurrency: int,
        delay: float,
        breaker_failures: int = 5,
        breaker_cooldown: float = 30.0,
    ) -> None:
        self.delay = delay
        self.breaker_failures = breaker_failures
        self.breaker_cooldown = breaker_cooldown
        self.consecutive_failures = 0
        self.trips = 0
        self._slots = asyncio.Semaphore(concurrency)
        self._lock = asyncio.Lock()
        self._next_start = 0.0
        self._paused_until = 0.0
        self._users = 0  # requests waiting for or holding a slot

    @property
    def idle(self) -> bool:
        """Nothing waits for this host and nothing of its state is still running (a
        pause, a spacing, a breaker count): forgetting it changes nothing."""
        now = time.monotonic()
        return (
            self._users == 0
            and self._paused_until <= now
            and self._next_start <= now
            and self.consecutive_failures == 0
        )

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        self._users += 1
        ticket = HOST_QUEUE.enter()
        try:
            async with self._slots:
                async with self._lock:  # start times are handed out in order
                    now = time.monotonic()
                    start = max(now, self._next_start, self._paused_until)
                    self._next_start = start + self.delay
                if start > now:
                    await asyncio.sleep(start - now)
                HOST_QUEUE.leave(ticket)
                yield
        finally:
            HOST_QUEUE.leave(ticket)
            self._users -= 1

    def pause(self, seconds: float) -> None:
        """Hold every request to this host for ``seconds`` (429/503 Retry-After)."""
        self._paused_until = max(self._paused_until, time.monotonic() + seconds)

    def record(self, *, ok: bool) -> None:
        """Circuit breaker: after ``breaker_failures`` failures in a row the host is
        paused for ``breaker_cooldown``; the next request after it is the probe. Its
        URLs wait (they are not failed for it), and other hosts are not held."""
        if ok:
            self.consecutive_failures = 0
            return
        self.consecutive_failures += 1
        if self.consecutive_failures >= self.breaker_failures:
            self.trips += 1
            self.consecutive_failures = 0
            self.pause(self.breaker_cooldown)
            logger.info(
                "%d failures in a row: host paused for %.0f s (its URLs wait)",
                self.breaker_failures,
                self.breaker_cooldown,
            )

    def slow_down_to(self, delay: float) -> None:
        self.delay = max(self.delay, min(delay, MAX_CRAWL_DELAY))


class HostGates:
    """The gate of each host, at most ``limit`` of them: past it the least recently used
    idle gates are forgotten (a crawl of many hosts must not grow without bound; a
    host's gate that is still busy or paused is kept)."""

    def __init__(self, factory: Callable[[], HostGate], *, limit: int) -> None:
        self._factory = factory
        self._limit = limit
        self._gates: OrderedDict[str, HostGate] = OrderedDict()

    def __len__(self) -> int:
        return len(self._gates)

    def get(self, host: str) -> HostGate:
        gate = self._gates.get(host)
        if gate is not None:
            self._gates.move_to_end(host)
            return gate
        gate = self._gates[host] = self._factory()
        if len(self._gates) > self._limit:
            for old in [h for h, g in self._gates.items() if h != host and g.idle]:
                del self._gates[old]
                if len(self._gates) <= self._limit:
                    break
        return gate
