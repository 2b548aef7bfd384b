"""Dead letters end to end: the failure hook of a task that fails as a whole, and replay."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

import quarrycore.flows.crawl
import quarrycore.pipeline.job
from quarrycore.deadletters import DeadLetterFilter, DeadLetterStore
from quarrycore.flows.replay import replay_dead_letters
from quarrycore.records import Document, Failure
from quarrycore.store import DocumentStore
from quarrycore.store.commit import Verdicts
from tests.e2e.jobs import numbered_site
from tests.support.siteserver import Response, SiteServer

HTML = {"Content-Type": "text/html; charset=utf-8"}


def _options(tmp_path: Path, **extra: Any) -> dict[str, Any]:
    return {
        "data_dir": str(tmp_path / "data"),
        "extract_workers": 0,
        "dead_letter_url": f"sqlite:///{tmp_path / 'dead_letter.db'}",
        "fetch_backoff_base": 0.01,
        "task_retry_delay": 0.01,
        **extra,
    }


class StoreThatCannotStoreDocuments(DocumentStore):
    """Commits of documents fail (past every retry); commits of failures work."""

    def commit_batch(
        self, job_id: str, docs: Sequence[Document], failures: Sequence[Failure], **kw: Any
    ) -> Verdicts:
        if docs:
            raise ValueError("documents table is read-only")
        return super().commit_batch(job_id, docs, failures, **kw)


async def test_failed_store_task_hook_records_every_url_of_the_batch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(quarrycore.pipeline.job, "DocumentStore", StoreThatCannotStoreDocuments)
    site = numbered_site(12, missing=3)
    with site:
        urls: list[str] = site.urls
        result = await quarrycore.flows.crawl.quarry_crawl(
            urls=urls,
            job_id="hooked",
            batch_size=5,
            database_url=f"sqlite:///{tmp_path}/s.db",
            options=_options(tmp_path),
        )
    assert result.state == "completed"
    assert result.failures_by_type == {"store/ValueError": 12, "crawl/HTTPStatus": 3}
    rows = list(
        DeadLetterStore(f"sqlite:///{tmp_path / 'dead_letter.db'}").rows(
            DeadLetterFilter(job_id="hooked")
        )
    )
    by_stage = {(r["stage"], r["error_type"]): 0 for r in rows}
    for r in rows:
        by_stage[(r["stage"], r["error_type"])] += 1
    assert by_stage == {("store", "ValueError"): 12, ("crawl", "HTTPStatus"): 3}
    store_rows = [r for r in rows if r["stage"] == "store"]
    assert all(r["failure_count"] == 1 and not r["retryable"] for r in store_rows)
    assert all(
        r["task_run_id"] and "documents table is read-only" in r["error_message"]
        for r in store_rows
    )
    assert {r["url"] for r in store_rows} == set(urls[:12])


class DeadLettersThatFailInHooks(DeadLetterStore):
    """A real dead-letter store whose writes from a task's failure hook raise (the hook's
    database is away for a moment): Prefect only logs a hook's exception."""

    def record(self, job_id: str, failures: Sequence[Failure], **kw: Any) -> None:
        if "task" in (kw.get("metadata") or {}):
            raise OSError("dead-letter database unavailable")
        super().record(job_id, failures, **kw)


async def test_a_failure_hook_that_cannot_write_loses_no_dead_letter(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(quarrycore.pipeline.job, "DocumentStore", StoreThatCannotStoreDocuments)
    monkeypatch.setattr(quarrycore.pipeline.job, "DeadLetterStore", DeadLettersThatFailInHooks)
    site = numbered_site(6)
    with site:
        result = await quarrycore.flows.crawl.quarry_crawl(
            urls=site.urls,
            job_id="hook-fails",
            batch_size=3,
            database_url=f"sqlite:///{tmp_path}/s.db",
            options=_options(tmp_path),
        )
    assert result.failures_by_type == {"store/ValueError": 6}
    rows = list(
        DeadLetterStore(f"sqlite:///{tmp_path / 'dead_letter.db'}").rows(
            DeadLetterFilter(job_id="hook-fails")
        )
    )
    # Written by the commit instead of the hook: every URL once, none lost.
    assert sorted(r["url"] for r in rows) == sorted(site.urls)
    assert all(
        (r["stage"], r["error_type"], r["failure_count"]) == ("store", "ValueError", 1)
        for r in rows
    )


async def test_replay_stores_what_recovered_and_leaves_permanent_failures(
    tmp_path: Path, store_url: str
) -> None:
    state = {"down": True}

    def recovering(hits: int) -> Response:
        if state["down"]:
            return Response(503, b"<html><body>maintenance</body></html>", HTML)
        return Response(
            200,
            b"<html><body><article><p>"
            + b"Back online with news. " * 20
            + b"</p></article></body></html>",
            HTML,
        )

    site = SiteServer({"/recovering": recovering})
    db = store_url
    dl_url = f"sqlite:///{tmp_path / 'dead_letter.db'}"  # as _options gives the flow
    with site:
        urls = [site.url("/recovering"), site.url("/missing")]
        first = await quarrycore.flows.crawl.quarry_crawl(
            urls=urls, job_id="replay", database_url=db, options=_options(tmp_path)
        )
        assert first.failed_count == 2
        dead_letters = DeadLetterStore(dl_url)
        rows = {r["url"]: r for r in dead_letters.rows(DeadLetterFilter(job_id="replay"))}
        assert rows[site.url("/recovering")]["retryable"]
        assert not rows[site.url("/missing")]["retryable"]

        state["down"] = False
        before = site.counts()
        results = await replay_dead_letters(
            job_id="replay",
            only_due=False,
            database_url=db,
            dead_letter_url=dl_url,
            options=_options(tmp_path),
        )
        assert [r.stored_count for r in results] == [1]
        assert site.count("/recovering") == before["/recovering"] + 1
        assert site.count("/missing") == before["/missing"]  # permanent: not retried
        assert DocumentStore(db).url_states("replay")[site.url("/recovering")] == ("stored", None)
        recovered = dead_letters.for_url(site.url("/recovering"))[0]
        assert recovered["resolved_at"] is not None
        assert [r["url"] for r in dead_letters.rows(DeadLetterFilter(job_id="replay"))] == [
            site.url("/missing")
        ]

        forced = await replay_dead_letters(
            job_id="replay",
            only_due=False,
            force=True,
            database_url=db,
            dead_letter_url=dl_url,
            options=_options(tmp_path),
        )
        assert forced[0].failed_count == 1
        assert site.count("/missing") == before["/missing"] + 1
        missing = dead_letters.for_url(site.url("/missing"))[0]
        assert (missing["failure_count"], missing["resolved_at"]) == (2, None)
