"""Outlasting a store outage: the same work tried again with backoff while the database is
unreachable (a restart, a failover, a lock held too long), instead of failing URLs."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from quarrycore.exceptions import RunStopped, StageFailed, StoreUnavailable, is_transient

T = TypeVar("T")
logger = logging.getLogger("quarrycore.pipeline")
_FIRST_DELAY, _MAX_DELAY = 1.0, 30.0


def unreachable(exc: BaseException) -> bool:
    """Whether ``exc`` says the store could not be reached (not what it was asked)."""
    error = exc.error if isinstance(exc, StageFailed) else exc
    return not isinstance(error, RunStopped) and is_transient(error)


async def outlast_outage(attempt: Callable[[], Awaitable[T]], *, limit: float, what: str) -> T:
    """``attempt()`` until it succeeds; while it fails because the store is unreachable,
    try again with backoff (1 s, doubling, at most 30 s) for up to ``limit`` seconds in
    all, then raise :class:`StoreUnavailable`. Any other error is raised at once."""
    waited, delay = 0.0, _FIRST_DELAY
    while True:
        try:
            return await attempt()
        except Exception as exc:
            if not unreachable(exc):
                raise
            error = exc.error if isinstance(exc, StageFailed) else exc
            if waited >= limit:
                raise StoreUnavailable(
                    f"the store was unreachable for {waited:.0f} s while {what} "
                    f"({type(error).__name__}: {error}); the work stays pending: resume "
                    "when the database is back"
                ) from error
            logger.warning(
                "the store is unreachable while %s (%s); trying again in %.0f s",
                what,
                type(error).__name__,
                delay,
            )
            await asyncio.sleep(delay)
            waited += delay
            delay = min(delay * 2, _MAX_DELAY)
