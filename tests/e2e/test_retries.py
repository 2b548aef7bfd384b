"""Prefect's task retries: transient errors are retried with backoff, others are not."""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from pathlib import Path
from typing import Any, cast

import sqlalchemy.exc
from prefect import State, flow

from quarrycore.deadletters import DeadLetterStore
from quarrycore.pipeline.steps import Committer
from quarrycore.records import Batch, BatchReport, Document, Failure
from quarrycore.settings import QuarrySettings
from quarrycore.store import DocumentStore
from quarrycore.store.commit import Verdicts
from quarrycore.tasks.policy import retry_options
from quarrycore.tasks.store import store_batch


class FlakyStore(DocumentStore):
    """A real store whose first ``failures`` commits raise ``error``."""

    def __init__(self, url: str, error: Exception, failures: int) -> None:
        super().__init__(url)
        self.error, self.failures, self.calls = error, failures, 0

    def commit_batch(
        self, job_id: str, docs: Sequence[Document], failures: Sequence[Failure], **kw: Any
    ) -> Verdicts:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        return super().commit_batch(job_id, docs, failures, **kw)


SETTINGS = QuarrySettings(task_retries=2, task_retry_delay=0.01, task_retry_jitter=0.1)


@flow
async def store_once(store: FlakyStore) -> str:
    task = store_batch.with_options(**retry_options(SETTINGS))
    dead_letters = DeadLetterStore(store.url.replace("s.db", "dl.db"))
    # An async task called with return_state=True gives a coroutine of its final state;
    # Prefect's overloads type the call as the State itself.
    pending = cast(
        "Awaitable[State[BatchReport]]",
        task(
            Batch.of("j", 0, []),
            Committer(store=store, dead_letters=dead_letters),
            return_state=True,
        ),
    )
    state = await pending
    return str(state.type.value)


async def test_database_lock_is_retried_until_it_succeeds(tmp_path: Path) -> None:
    locked = sqlalchemy.exc.OperationalError("UPDATE", {}, Exception("database is locked"))
    store = FlakyStore(f"sqlite:///{tmp_path / 's.db'}", locked, failures=2)
    assert await store_once(store) == "COMPLETED"
    assert store.calls == 3


async def test_a_bug_is_not_retried(tmp_path: Path) -> None:
    store = FlakyStore(f"sqlite:///{tmp_path / 's.db'}", ValueError("bug"), failures=5)
    assert await store_once(store) == "FAILED"
    assert store.calls == 1
