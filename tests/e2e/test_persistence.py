"""Prefect result persistence: a batch fetched but never stored is not fetched again."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

import quarrycore.flows.crawl
import quarrycore.pipeline.job
from quarrycore.records import Document, Failure
from quarrycore.store import DocumentStore
from quarrycore.store.commit import Verdicts
from tests.support.siteserver import SiteServer


class BrokenDiskStore(DocumentStore):
    """A real store whose commits fail while ``broken`` is set (a full disk, say)."""

    broken = True

    def commit_batch(
        self, job_id: str, docs: Sequence[Document], failures: Sequence[Failure], **kw: Any
    ) -> Verdicts:
        if BrokenDiskStore.broken:
            raise RuntimeError("disk full")
        return super().commit_batch(job_id, docs, failures, **kw)


async def test_rerun_after_a_failed_commit_takes_the_fetched_batch_from_the_cache(
    trouble_site: SiteServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(quarrycore.pipeline.job, "DocumentStore", BrokenDiskStore)
    urls = [trouble_site.url(p) for p in trouble_site.routes if p.startswith("/articles/")]
    params = {
        "urls": urls,
        "job_id": "cache-job",
        "batch_size": 5,
        "database_url": f"sqlite:///{tmp_path / 's.db'}",
        "options": {"data_dir": str(tmp_path / "data"), "extract_workers": 0},
    }

    BrokenDiskStore.broken = True
    with pytest.raises(RuntimeError, match="disk full"):
        await quarrycore.flows.crawl.quarry_crawl(**params)
    first_batch = urls[:5]
    assert all(trouble_site.count(urlsplit(u).path) == 1 for u in first_batch)
    assert list((tmp_path / "data" / "results").iterdir()), "crawl results were not persisted"

    BrokenDiskStore.broken = False
    result = await quarrycore.flows.crawl.quarry_crawl(**params)
    assert result.stored_count == len(urls) and result.state == "completed"
    # The first batch came from Prefect's persisted result, not from the server.
    assert all(trouble_site.count(urlsplit(u).path) == 1 for u in first_batch)
    # Committed batches' cached results are gone: the store answers for them now.
    assert list((tmp_path / "data" / "results").iterdir()) == []
