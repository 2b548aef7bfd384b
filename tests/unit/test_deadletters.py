"""dead_letter.db on real SQLite files and, where marked, a real PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from quarrycore.deadletters import DeadLetterFilter, DeadLetterStore, RetryPolicy
from quarrycore.exceptions import Stage
from quarrycore.records import Failure


def fail(
    url: str,
    error: str = "HTTPStatus",
    *,
    status: int | None = 503,
    retryable: bool = True,
    stage: Stage = "crawl",
    attempts: int = 3,
) -> Failure:
    return Failure(
        url=url,
        stage=stage,
        error_type=error,
        message=f"{error} {status}",
        retryable=retryable,
        status_code=status,
        attempts=attempts,
    )


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def dead_letters(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DeadLetterStore]:
    url = (
        f"sqlite:///{tmp_path / 'dead_letter.db'}"
        if request.param == "sqlite"
        else request.getfixturevalue("postgres_url")
    )
    store = DeadLetterStore(url, policy=RetryPolicy(base_seconds=60, max_seconds=600))
    yield store
    store.close()


def test_the_same_failure_twice_is_one_row_with_count_2(dead_letters: DeadLetterStore) -> None:
    dead_letters.record("j", [fail("http://x/a")], task_run_id="t1")
    first = next(dead_letters.rows(DeadLetterFilter()))
    dead_letters.record("j", [fail("http://x/a", status=502)], task_run_id="t2")
    rows = list(dead_letters.rows(DeadLetterFilter()))
    assert len(rows) == 1
    row = rows[0]
    assert (row["failure_count"], row["attempts"], row["status_code"]) == (2, 6, 502)
    assert row["first_failed_at"] == first["first_failed_at"]
    assert row["last_failed_at"] >= first["last_failed_at"]
    # Backoff doubles: 60 s after the first failure, 120 s after the second.
    delay = row["next_retry_at"] - row["last_failed_at"]
    assert timedelta(seconds=119) < delay < timedelta(seconds=121)


def test_a_prefect_retry_of_the_same_task_run_does_not_count_twice(
    dead_letters: DeadLetterStore,
) -> None:
    dead_letters.record("j", [fail("http://x/a")], task_run_id="same")
    dead_letters.record("j", [fail("http://x/a")], task_run_id="same")
    assert next(dead_letters.rows(DeadLetterFilter()))["failure_count"] == 1


def test_permanent_failures_get_no_retry_time_and_filters_work(
    dead_letters: DeadLetterStore,
) -> None:
    dead_letters.record(
        "j",
        [
            fail("http://x/a"),
            fail("http://x/b", "NotHTML", status=None, retryable=False),
            fail("bad url", "InvalidURL", status=None, retryable=False, stage="validate"),
        ],
    )
    dead_letters.record("k", [fail("http://x/a")])
    permanent = list(dead_letters.rows(DeadLetterFilter(retryable=False)))
    assert {r["url"] for r in permanent} == {"http://x/b", "bad url"}
    assert all(r["next_retry_at"] is None for r in permanent)
    assert [r["url"] for r in dead_letters.rows(DeadLetterFilter(stage="validate"))] == ["bad url"]
    assert len(list(dead_letters.rows(DeadLetterFilter(job_id="k")))) == 1
    assert (
        len(list(dead_letters.rows(DeadLetterFilter(error_types=["NotHTML", "InvalidURL"])))) == 2
    )
    not_due = DeadLetterFilter(retryable=True, due_before=datetime.now(UTC))
    assert list(dead_letters.rows(not_due)) == []
    due_later = DeadLetterFilter(
        retryable=True, due_before=datetime.now(UTC) + timedelta(minutes=2)
    )
    assert len(list(dead_letters.rows(due_later))) == 2
    stats = {
        (r["stage"], r["error_type"]): r["count"] for r in dead_letters.stats(DeadLetterFilter())
    }
    assert stats == {
        ("crawl", "HTTPStatus"): 2,
        ("crawl", "NotHTML"): 1,
        ("validate", "InvalidURL"): 1,
    }


def test_resolving_closes_rows_and_a_new_failure_reopens_them(
    dead_letters: DeadLetterStore,
) -> None:
    dead_letters.record("j", [fail("http://x/a"), fail("http://x/b")])
    assert dead_letters.resolve("j", ["http://x/a"]) == 1
    assert [r["url"] for r in dead_letters.rows(DeadLetterFilter())] == ["http://x/b"]
    resolved = dead_letters.rows(
        DeadLetterFilter(unresolved_only=False, error_types=["HTTPStatus"])
    )
    assert sum(r["resolved_at"] is not None for r in resolved) == 1
    dead_letters.record("j", [fail("http://x/a")])
    assert len(list(dead_letters.rows(DeadLetterFilter()))) == 2
    assert dead_letters.for_url("http://x/a")[0]["failure_count"] == 2


def test_only_new_leaves_existing_rows_alone(dead_letters: DeadLetterStore) -> None:
    bad = fail("bad url", "InvalidURL", status=None, retryable=False, stage="validate")
    dead_letters.record("j", [bad], only_new=True)
    dead_letters.record("j", [bad], only_new=True)
    assert next(dead_letters.rows(DeadLetterFilter()))["failure_count"] == 1
