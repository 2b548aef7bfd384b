"""Waiting out a store outage: the same work again with backoff, then a clear stop."""

from __future__ import annotations

import pytest
import sqlalchemy.exc

from quarrycore.exceptions import StageFailed, StoreUnavailable
from quarrycore.pipeline import outage
from quarrycore.pipeline.outage import outlast_outage

GONE = sqlalchemy.exc.OperationalError("COMMIT", {}, Exception("server closed the connection"))


@pytest.fixture(autouse=True)
def _quick_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(outage, "_FIRST_DELAY", 0.01)


async def test_the_work_is_tried_again_until_the_store_is_back() -> None:
    calls = 0

    async def commit() -> str:
        nonlocal calls
        calls += 1
        if calls <= 3:  # a Prefect task's failure wraps the error: unwrapped too
            raise GONE if calls % 2 else StageFailed(GONE, recorded=False)
        return "committed"

    assert await outlast_outage(commit, limit=10, what="committing") == "committed"
    assert calls == 4


async def test_past_the_limit_the_run_stops_with_the_reason() -> None:
    async def commit() -> str:
        raise GONE

    with pytest.raises(StoreUnavailable, match=r"unreachable .*OperationalError"):
        await outlast_outage(commit, limit=0.05, what="committing batch 3")


async def test_an_error_that_is_not_an_outage_is_raised_at_once() -> None:
    calls = 0

    async def commit() -> str:
        nonlocal calls
        calls += 1
        raise ValueError("a bug")

    with pytest.raises(ValueError, match="a bug"):
        await outlast_outage(commit, limit=10, what="committing")
    assert calls == 1
