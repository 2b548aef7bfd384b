"""The Prefect tasks' plain bodies (``.fn``) and the retry policy, without a server."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy.exc
from prefect._internal.result_records import ResultRecord, ResultRecordMetadata
from prefect.serializers import CompressedSerializer, PickleSerializer
from prefect.states import Completed, Failed

from quarrycore.deadletters import DeadLetterFilter, DeadLetterStore
from quarrycore.exceptions import HTTPStatus, NotHTML
from quarrycore.fetch import Fetcher
from quarrycore.pipeline.steps import Committer, Fetch
from quarrycore.records import Batch, Document, Failure
from quarrycore.settings import QuarrySettings
from quarrycore.store import DocumentStore
from quarrycore.tasks.crawl import crawl_batch, crawl_cache_key
from quarrycore.tasks.policy import retry_on_transient, retry_options
from quarrycore.tasks.store import store_batch


async def test_store_task_body_commits_documents_and_failures(tmp_path: Path) -> None:
    store = DocumentStore(f"sqlite:///{tmp_path / 's.db'}")
    store.start_job("j", {})
    store.add_urls("j", ["http://x/1", "http://x/2"])
    doc = Document(
        url="http://x/1",
        final_url="http://x/1",
        status_code=200,
        fetched_at=datetime.now(UTC),
        text="hello",
        content_hash="h",
        word_count=1,
    )
    fail = Failure(
        url="http://x/2", stage="crawl", error_type="NotHTML", message="pdf", retryable=False
    )
    dead_letters = DeadLetterStore(f"sqlite:///{tmp_path / 'dl.db'}")
    report = await store_batch.fn(
        Batch.of("j", 7, ["http://x/1", "http://x/2"]).advance([doc, fail]),
        Committer(store=store, dead_letters=dead_letters),
    )
    assert (report.batch_index, report.stored, report.failed) == (7, 1, 1)
    rows = list(dead_letters.rows(DeadLetterFilter(job_id="j")))
    assert [(r["url"], r["stage"], r["error_type"]) for r in rows] == [
        ("http://x/2", "crawl", "NotHTML")
    ]
    assert store.url_states("j") == {
        "http://x/1": ("stored", None),
        "http://x/2": ("failed", "NotHTML"),
    }


async def test_crawl_task_body_fetches_a_batch() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/a":
            return httpx.Response(200, html="<html><body><p>a</p></body></html>")
        return httpx.Response(404)

    settings = QuarrySettings(fetch_backoff_base=0, respect_robots=False)
    async with Fetcher(settings, transport=httpx.MockTransport(handler)) as fetcher:
        out = await crawl_batch.fn(Batch.of("j", 0, ["http://x/a", "http://x/b"]), Fetch(fetcher))
    assert [p.url for p in out.pages] == ["http://x/a"]
    assert [(f.url, f.error_type) for f in out.failures] == [("http://x/b", "HTTPStatus")]


def test_cache_key_covers_every_url_of_the_batch() -> None:
    a = crawl_cache_key(None, {"batch": Batch.of("j", 0, ["http://x/1", "http://x/2"])})
    b = crawl_cache_key(None, {"batch": Batch.of("j", 0, ["http://x/1", "http://x/3"])})
    c = crawl_cache_key(None, {"batch": Batch.of("k", 0, ["http://x/1", "http://x/2"])})
    assert len({a, b, c}) == 3


def _persisted(batch: Batch, serializer: Any) -> bytes:
    record: ResultRecord[Batch] = ResultRecord(
        result=batch, metadata=ResultRecordMetadata(serializer=serializer)
    )
    return record.serialize()


def test_a_persisted_crawl_result_reads_back_as_the_batch_it_was() -> None:
    """As Prefect writes and reads the crawl task's result file; a batch a run of the
    earlier format left behind (compressed twice-encoded pickle) still reads back."""
    batch = Batch.of("j", 3, ["http://x/1", "http://x/2"])
    serializer = crawl_batch.result_serializer
    assert isinstance(serializer, PickleSerializer)
    earlier = CompressedSerializer(
        serializer=PickleSerializer(picklelib="pickle"),
        compressionlib="quarrycore.tasks.resultcodec",
    )
    for written in (_persisted(batch, serializer), _persisted(batch, earlier)):
        assert ResultRecord.deserialize(written).result == batch
    # One base64 over the compressed pickle, not one over the whole pickle as well.
    assert len(_persisted(batch, serializer)) < len(_persisted(batch, earlier))


@pytest.mark.parametrize(
    ("exc", "retry"),
    [
        (httpx.ConnectTimeout("t"), True),
        (sqlalchemy.exc.OperationalError("UPDATE", {}, Exception("database is locked")), True),
        (HTTPStatus("HTTP 503", status_code=503), True),
        (HTTPStatus("HTTP 404", status_code=404), False),
        (NotHTML("pdf"), False),
        (ValueError("a bug"), False),
        (KeyError("a bug"), False),
    ],
)
def test_only_transient_failures_are_retried(exc: BaseException, retry: bool) -> None:
    state: Any = Failed(data=exc)
    assert retry_on_transient(None, None, state) is retry  # type: ignore[arg-type]


def test_a_completed_state_is_not_retried() -> None:
    assert retry_on_transient(None, None, Completed(data=1)) is False  # type: ignore[arg-type]


def test_retry_options_come_from_settings() -> None:
    options = retry_options(
        QuarrySettings(task_retries=4, task_retry_delay=1.5, task_retry_jitter=0.2)
    )
    assert options["retries"] == 4
    assert options["retry_delay_seconds"](4) == [1.5, 3.0, 6.0, 12.0]
    assert options["retry_jitter_factor"] == 0.2
