"""A document's out-links are looked for only where they are wanted: in a job that follows
links (or its re-extraction), or when ``keep_out_links`` asks for them."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from quarrycore.extract.options import ExtractOptions
from quarrycore.extract.step import extract_one
from quarrycore.pipeline.job import open_job, wants_out_links
from quarrycore.pipeline.request import JobRequest, ScopeRequest
from quarrycore.pipeline.scope import CrawlScope
from quarrycore.records import Document, FetchedPage
from quarrycore.settings import TRACKING_PARAMS, settings_from_parameters

PAGE = FetchedPage(
    url="http://127.0.0.1:8000/a.html",
    final_url="http://127.0.0.1:8000/a.html",
    status_code=200,
    content_type="text/html",
    html="<html><body><article><p>A paragraph of plain words about the weather in a town "
    "by the sea, long enough to be the page's text.</p><a href='/b.html'>b</a>"
    "<a href='http://other.example/c'>c</a></article></body></html>",
    encoding="utf-8",
    fetched_at=datetime.now(UTC),
)


def test_links_are_not_looked_for_when_not_wanted() -> None:
    wanted = extract_one(PAGE, ExtractOptions(drop=TRACKING_PARAMS))
    unwanted = extract_one(PAGE, ExtractOptions(drop=TRACKING_PARAMS, out_links=False))
    assert isinstance(wanted, Document) and isinstance(unwanted, Document)
    assert wanted.out_links == ("http://127.0.0.1:8000/b.html", "http://other.example/c")
    assert unwanted.out_links == ()
    assert unwanted.text == wanted.text


async def _keeps(tmp_path: Path, request: JobRequest, keep: bool | None = None) -> bool:
    settings = settings_from_parameters(
        database_url=f"sqlite:///{tmp_path / 's.db'}",
        dead_letter_url=f"sqlite:///{tmp_path / 'dl.db'}",
        checkpoint_dir=str(tmp_path / "checkpoints"),
        checkpoint_block=False,
        keep_out_links=keep,
    )
    job = await open_job(request, settings)
    job.close()
    return job.keeps_out_links


async def test_a_job_keeps_out_links_when_it_follows_them_or_is_asked_to(tmp_path: Path) -> None:
    urls = ["http://127.0.0.1:8000/a.html"]
    assert not await _keeps(tmp_path, JobRequest(urls=urls, job_id="list"))
    assert await _keeps(tmp_path, JobRequest(urls=urls, job_id="list"), keep=True)
    crawl = JobRequest(urls=urls, job_id="crawl", scope=ScopeRequest(max_depth=2))
    assert await _keeps(tmp_path, crawl)
    assert not await _keeps(tmp_path, crawl, keep=False)
    # A later run of the crawl: its scope is recorded with the job.
    assert await _keeps(tmp_path, JobRequest(job_id="crawl", resume=True))


def test_a_reextraction_keeps_the_out_links_its_crawl_kept() -> None:
    none, crawl = CrawlScope(), ScopeRequest(max_depth=2).scope(["127.0.0.1:8000"])
    assert crawl.follows_links and not none.follows_links
    # A re-extraction runs with no scope of its own (none), the crawl's recorded.
    assert wants_out_links(None, none, crawl)
    assert not wants_out_links(None, none, none)
    assert not wants_out_links(False, none, crawl)
    assert wants_out_links(True, none, none)
