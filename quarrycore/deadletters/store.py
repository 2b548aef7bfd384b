"""The dead-letter store: every URL that finally failed, why, and when to try it again.

One row per (job, URL, stage). Recording the same failure again updates the row (count,
attempts, last time, message) and never adds one. A later success resolves the row.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from quarrycore import migrations
from quarrycore.db import fit, make_engine
from quarrycore.deadletters.schema import COLUMNS, dead_letters
from quarrycore.records import Failure
from quarrycore.settings import QuarrySettings
from quarrycore.urls import url_key


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    """When a transient failure is due again: base * 2**(failures-1), capped."""

    base_seconds: float = 300.0
    max_seconds: float = 86_400.0

    def next_retry(self, failures: int, now: datetime) -> datetime:
        delay = min(self.max_seconds, self.base_seconds * 2 ** max(0, failures - 1))
        return now + timedelta(seconds=delay)


@dataclass(frozen=True, slots=True, kw_only=True)
class DeadLetterFilter:
    job_id: str | None = None
    stage: str | None = None
    error_types: Sequence[str] = ()
    retryable: bool | None = None
    unresolved_only: bool = True
    due_before: datetime | None = None
    max_attempts: int | None = None


class DeadLetterStore:
    """Owns the ``dead_letters`` table of one database."""

    def __init__(self, url: str, *, policy: RetryPolicy | None = None) -> None:
        self.url = url
        self.policy = policy or RetryPolicy()
        self.engine = make_engine(url)
        migrations.upgrade(self.engine, "dead_letters")

    @classmethod
    def for_settings(cls, settings: QuarrySettings) -> DeadLetterStore:
        policy = RetryPolicy(
            base_seconds=settings.dead_letter_backoff_base,
            max_seconds=settings.dead_letter_backoff_max,
        )
        return cls(settings.dead_letter_url, policy=policy)

    def close(self) -> None:
        self.engine.dispose()

    def record(
        self,
        job_id: str,
        failures: Sequence[Failure],
        *,
        flow_run_id: str | None = None,
        task_run_id: str | None = None,
        metadata: dict[str, Any] | None = None,
        only_new: bool = False,
        per_url: Mapping[str, dict[str, Any]] | None = None,
    ) -> None:
        """Record final failures; an existing row of the same (job, URL, stage) is updated
        (``only_new``: left alone). ``per_url`` adds metadata of a URL's own (its WARC
        record, to read it again). Prefect's retries of one task run share its id, so a
        retry that records the same failure again does not count it twice."""
        if not failures:
            return
        now = datetime.now(UTC)
        by_key = {(url_key(f.url), f.stage): f for f in failures}
        with self.engine.begin() as conn:
            existing = {
                (row.url_key, row.stage): row
                for row in conn.execute(
                    sa.select(
                        dead_letters.c.url_key,
                        dead_letters.c.stage,
                        dead_letters.c.failure_count,
                        dead_letters.c.attempts,
                        dead_letters.c.task_run_id,
                        dead_letters.c.resolved_at,
                    ).where(
                        dead_letters.c.job_id == job_id,
                        dead_letters.c.url_key.in_({k for k, _ in by_key}),
                    )
                )
            }
            for (key, stage), failure in by_key.items():
                row = existing.get((key, stage))
                if row is not None and only_new:
                    continue
                again = (
                    row is not None
                    and task_run_id is not None
                    and row.task_run_id == task_run_id
                    and row.resolved_at is None
                )
                count = 1 if row is None else row.failure_count + (0 if again else 1)
                previous_attempts = 0 if row is None or again else row.attempts
                values = {
                    "url": failure.url,
                    "flow_run_id": flow_run_id,
                    "task_run_id": task_run_id,
                    "error_type": failure.error_type,
                    "error_message": failure.message[:4000],
                    "status_code": failure.status_code,
                    "failure_count": count,
                    "attempts": failure.attempts + previous_attempts,
                    "last_failed_at": now,
                    "retryable": failure.retryable,
                    "next_retry_at": self.policy.next_retry(count, now)
                    if failure.retryable
                    else None,
                    "resolved_at": None,
                    "metadata": {**(metadata or {}), **(per_url or {}).get(failure.url, {})},
                }
                values = fit(dead_letters, values)
                if row is None:
                    conn.execute(
                        dead_letters.insert().values(
                            job_id=job_id, url_key=key, stage=stage, first_failed_at=now, **values
                        )
                    )
                else:
                    conn.execute(
                        dead_letters.update()
                        .where(
                            dead_letters.c.job_id == job_id,
                            dead_letters.c.url_key == key,
                            dead_letters.c.stage == stage,
                        )
                        .values(**values)
                    )

    def resolve(self, job_id: str, urls: Sequence[str]) -> int:
        """Mark open rows of these URLs resolved (their document is stored now)."""
        if not urls:
            return 0
        with self.engine.begin() as conn:
            return conn.execute(
                dead_letters.update()
                .where(
                    dead_letters.c.job_id == job_id,
                    dead_letters.c.url_key.in_([url_key(u) for u in urls]),
                    dead_letters.c.resolved_at.is_(None),
                )
                .values(resolved_at=datetime.now(UTC))
            ).rowcount

    def _where(self, f: DeadLetterFilter) -> list[sa.ColumnElement[bool]]:
        c = dead_letters.c
        clauses: list[sa.ColumnElement[bool]] = []
        if f.job_id is not None:
            clauses.append(c.job_id == f.job_id)
        if f.stage is not None:
            clauses.append(c.stage == f.stage)
        if f.error_types:
            clauses.append(c.error_type.in_(list(f.error_types)))
        if f.retryable is not None:
            clauses.append(c.retryable.is_(f.retryable))
        if f.unresolved_only:
            clauses.append(c.resolved_at.is_(None))
        if f.due_before is not None:
            clauses.append(sa.or_(c.next_retry_at.is_(None), c.next_retry_at <= f.due_before))
        if f.max_attempts is not None:
            clauses.append(c.failure_count < f.max_attempts)
        return clauses

    def rows(self, f: DeadLetterFilter, *, limit: int | None = None) -> Iterator[dict[str, Any]]:
        query = (
            sa.select(*(dead_letters.c[name] for name in COLUMNS))
            .where(*self._where(f))
            .order_by(dead_letters.c.job_id, dead_letters.c.last_failed_at)
        )
        if limit is not None:
            query = query.limit(limit)
        with self.engine.connect() as conn:
            for row in conn.execution_options(yield_per=1000).execute(query).mappings():
                yield dict(row)

    def for_url(self, url: str) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            query = sa.select(*(dead_letters.c[name] for name in COLUMNS)).where(
                dead_letters.c.url_key == url_key(url)
            )
            return [dict(row) for row in conn.execute(query).mappings()]

    def stats(self, f: DeadLetterFilter) -> list[dict[str, Any]]:
        """Counts of rows by stage and error type."""
        c = dead_letters.c
        query = (
            sa.select(c.stage, c.error_type, c.retryable, sa.func.count().label("count"))
            .where(*self._where(f))
            .group_by(c.stage, c.error_type, c.retryable)
            .order_by(c.stage, sa.func.count().desc())
        )
        with self.engine.connect() as conn:
            return [dict(row) for row in conn.execute(query).mappings()]
