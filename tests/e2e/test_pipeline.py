"""The crawl flow end to end: a real HTTP server, real pages, a real SQLite store."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from quarrycore.deadletters import DeadLetterFilter, DeadLetterStore
from quarrycore.flows.crawl import quarry_crawl
from quarrycore.pipeline.result import CrawlResult
from quarrycore.store import DocumentStore
from tests.support.sites import BODY_LIMIT, EXPECTED_OUTCOMES, LATIN1_TEXT
from tests.support.siteserver import SiteServer

FAST_OPTIONS: dict[str, Any] = {
    "read_timeout": 1.0,
    "connect_timeout": 2.0,
    "fetch_retries": 2,
    "fetch_backoff_base": 0.05,
    "fetch_backoff_max": 0.2,
    "max_body_bytes": BODY_LIMIT,
    "max_redirects": 5,
    "extract_workers": 2,
}


def _urls(site: SiteServer) -> list[str]:
    articles = [site.url(p) for p in site.routes if p.startswith("/articles/")]
    return articles + [site.url(p) for p in EXPECTED_OUTCOMES]


async def _crawl(site: SiteServer, db: str, job_id: str, tmp_path: Path) -> CrawlResult:
    result: CrawlResult = await quarry_crawl(
        urls=[*_urls(site), "http://exa mple.com/", "ftp://127.0.0.1/file"],
        job_id=job_id,
        database_url=db,
        batch_size=8,
        concurrency=16,
        options={
            **FAST_OPTIONS,
            "data_dir": str(tmp_path / "data"),
            "dead_letter_url": f"sqlite:///{tmp_path / 'dead_letter.db'}",
        },
    )
    return result


async def test_every_url_ends_with_its_exact_outcome(
    trouble_site: SiteServer, tmp_path: Path, store_url: str
) -> None:
    db = store_url
    result = await _crawl(trouble_site, db, "e2e-outcomes", tmp_path)
    dead_letters = DeadLetterStore(f"sqlite:///{tmp_path / 'dead_letter.db'}")

    articles = [p for p in trouble_site.routes if p.startswith("/articles/")]
    expected: dict[str, tuple[str, str | None]] = {
        trouble_site.url(p): ("stored", None) for p in articles
    }
    expected |= {trouble_site.url(p): outcome for p, outcome in EXPECTED_OUTCOMES.items()}
    expected |= {
        "http://exa mple.com/": ("failed", "InvalidURL"),
        "ftp://127.0.0.1/file": ("failed", "InvalidURL"),
    }

    store = DocumentStore(db)
    assert store.url_states("e2e-outcomes") == expected
    stored = {u for u, (state, _) in expected.items() if state == "stored"}
    assert result.state == "completed"
    assert result.stored_count == len(stored)
    assert result.failed_count == len(expected) - len(stored)
    assert result.processed_count == len(expected)
    assert result.pending_count == 0
    assert result.failures_by_type["validate/InvalidURL"] == 2
    assert result.failures_by_type["crawl/HTTPStatus"] == 2

    docs = {d["url"]: d for d in store.iter_documents("e2e-outcomes")}
    assert set(docs) == stored
    # The flaky page was asked for three times: two 500s, then the page.
    assert trouble_site.count("/flaky") == 3
    # A permanent 404 is not retried; a 503 is retried fetch_retries times.
    assert trouble_site.count("/missing") == 1
    assert trouble_site.count("/always-500") == 1 + FAST_OPTIONS["fetch_retries"]
    redirected = docs[trouble_site.url("/redirect/1")]
    assert redirected["final_url"] == trouble_site.url("/ok-after-redirects")
    latin1 = docs[trouble_site.url("/latin1")]
    assert LATIN1_TEXT[:40] in latin1["text"]
    assert latin1["encoding"] == "cp1252"  # iso-8859-1 is decoded as its superset, per WHATWG
    lying = docs[trouble_site.url("/lying-header")]
    assert "crème brûlée" in lying["text"]
    assert latin1["language"] == "fr" and lying["language"] == "fr"

    # Every failure is in dead_letter.db once, with its stage, type, status, retryability.
    rows = {r["url"]: r for r in dead_letters.rows(DeadLetterFilter(job_id="e2e-outcomes"))}
    assert set(rows) == {u for u, (state, _) in expected.items() if state == "failed"}
    url = trouble_site.url
    expected_rows = {
        url("/missing"): ("crawl", "HTTPStatus", 404, False, 1),
        url("/always-500"): ("crawl", "HTTPStatus", 503, True, 3),
        url("/loop"): ("crawl", "TooManyRedirects", None, False, 1),
        url("/binary"): ("crawl", "NotHTML", None, False, 1),
        url("/binary-as-html"): ("crawl", "NotHTML", None, False, 1),
        url("/huge"): ("crawl", "TooLarge", None, False, 1),
        url("/huge-streamed"): ("crawl", "TooLarge", None, False, 1),
        url("/empty"): ("extract", "NoContent", None, False, 1),
        url("/slow"): ("crawl", "FetchTimeout", None, True, 3),
        url("/reset"): ("crawl", "FetchConnectionError", None, True, 3),
        "http://exa mple.com/": ("validate", "InvalidURL", None, False, 1),
        "ftp://127.0.0.1/file": ("validate", "InvalidURL", None, False, 1),
    }
    got = {
        u: (r["stage"], r["error_type"], r["status_code"], r["retryable"], r["attempts"])
        for u, r in rows.items()
    }
    assert got == expected_rows
    assert all(r["failure_count"] == 1 and r["resolved_at"] is None for r in rows.values())
    assert all((r["next_retry_at"] is not None) == r["retryable"] for r in rows.values())
    for doc in docs.values():
        assert doc["word_count"] > 0 and len(doc["content_hash"]) == 64 and doc["title"]
        if doc["url"] != url("/odd-lang"):
            assert doc["language"] and len(doc["language"]) == 2
    assert docs[url("/odd-lang")]["language"] is None  # "xxx…" is no language


async def test_second_run_of_a_job_stores_and_fetches_nothing_again(
    trouble_site: SiteServer, tmp_path: Path
) -> None:
    db = f"sqlite:///{tmp_path / 'store.db'}"
    first = await _crawl(trouble_site, db, "e2e-rerun", tmp_path)
    requests_after_first = trouble_site.counts()
    second = await _crawl(trouble_site, db, "e2e-rerun", tmp_path)

    assert trouble_site.counts() == requests_after_first
    assert second.processed_this_run == 0
    assert (second.stored_count, second.failed_count) == (first.stored_count, first.failed_count)
    store = DocumentStore(db)
    assert len(list(store.iter_documents("e2e-rerun"))) == first.stored_count


async def test_unknown_job_without_urls_is_a_clear_error(tmp_path: Path) -> None:
    from quarrycore.exceptions import NoURLsError

    with pytest.raises(NoURLsError, match="no URLs given"):
        await quarry_crawl(urls=[], job_id="nothing", database_url=f"sqlite:///{tmp_path}/x.db")


async def test_quality_filters_give_verdicts_with_reasons_end_to_end(
    article_routes: dict[str, Any], tmp_path: Path
) -> None:
    from tests.support.siteserver import Response, html_page

    good_path, good = next(iter(article_routes.items()))
    lorem = html_page(
        "Lorem",
        "<p>"
        + " ".join(
            f"Paragraph {i} lorem ipsum dolor sit amet, consectetur adipiscing elit {i}."
            for i in range(20)
        )
        + "</p>",
    )
    wall = html_page(
        "Consent",
        "<p>We use cookies to give you the best experience. "
        "Accept all cookies to continue reading this site.</p>" * 2,
    )
    routes = {good_path: good, "/lorem": Response(200, lorem), "/wall": Response(200, wall)}
    db = f"sqlite:///{tmp_path / 'store.db'}"
    with SiteServer(routes) as site:
        await quarry_crawl(
            urls=[site.url(p) for p in routes],
            job_id="filtered",
            database_url=db,
            options={
                "quality": {"enabled": True, "min_words": 5},
                "extract_workers": 0,
                "data_dir": str(tmp_path / "data"),
                "dead_letter_url": f"sqlite:///{tmp_path / 'dead_letter.db'}",
            },
        )
        urls = {p: site.url(p) for p in routes}
    states = DocumentStore(db).url_states("filtered")
    assert states == {
        urls[good_path]: ("stored", None),
        urls["/lorem"]: ("filtered", "boilerplate"),
        urls["/wall"]: ("filtered", "boilerplate"),
    }
    # Rejected pages are kept, with the verdict; they are not failures (no dead letters).
    store = DocumentStore(db)
    filtered = {d["url"]: d for d in store.iter_documents("filtered", which="filtered")}
    assert set(filtered) == {urls["/lorem"], urls["/wall"]}
    assert "lorem ipsum" in filtered[urls["/lorem"]]["filter_reason"]
    assert "consent" in filtered[urls["/wall"]]["filter_reason"]
    assert "Accept all cookies" in filtered[urls["/wall"]]["text"]  # the text, unchanged
    assert [d["url"] for d in store.iter_documents("filtered")] == [urls[good_path]]
    letters = list(
        DeadLetterStore(f"sqlite:///{tmp_path / 'dead_letter.db'}").rows(
            DeadLetterFilter(job_id="filtered")
        )
    )
    assert letters == []


async def test_the_run_graph_links_each_batch_through_its_three_tasks(
    trouble_site: SiteServer, tmp_path: Path
) -> None:
    """A batch goes to its tasks unwalked (tasks/steps.py): the UI's graph still shows
    crawl -> extract -> store for each batch."""
    from prefect.client.orchestration import get_client

    result = await _crawl(trouble_site, f"sqlite:///{tmp_path / 'store.db'}", "graph", tmp_path)
    assert result.flow_run_id
    by_name: dict[str, Any] = {}
    query = {"flow_runs": {"id": {"any_": [result.flow_run_id]}}, "limit": 200}
    async with get_client() as client:
        # Task runs reach the API by events: read until every batch's three are there.
        # Raw JSON: this Prefect's client cannot parse the crawl task's compressed result.
        for _ in range(300):
            response = await client._client.post("/task_runs/filter", json=query)
            by_name = {run["name"]: run for run in response.json()}
            stores = [n for n in by_name if n.startswith("store-batch-")]
            indexes = [n.rsplit("-", 1)[1] for n in stores]
            if len(stores) >= 2 and all(
                f"{stage}-batch-{i}" in by_name for i in indexes for stage in ("crawl", "extract")
            ):
                break
            await asyncio.sleep(0.1)
    stores = sorted(n for n in by_name if n.startswith("store-batch-"))
    assert len(stores) >= 2, sorted(by_name)
    for store_name in stores:
        index = store_name.rsplit("-", 1)[1]
        crawl, extract = by_name[f"crawl-batch-{index}"], by_name[f"extract-batch-{index}"]
        assert [i["id"] for i in extract["task_inputs"]["batch"]] == [crawl["id"]]
        assert [i["id"] for i in by_name[store_name]["task_inputs"]["batch"]] == [extract["id"]]
