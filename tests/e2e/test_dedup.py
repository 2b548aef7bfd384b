"""Exact duplicates: the same article under three URLs is stored once, also across a
kill -9 and resume."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from quarrycore.flows.crawl import quarry_crawl
from quarrycore.store import DocumentStore
from tests.e2e.jobs import quarry_env, run_quarry, start_quarry, wait_for_processed
from tests.support.siteserver import Response, SiteServer

ARTICLE = "".join(
    f"<p>Paragraph {i}: the committee met on Tuesday and agreed the budget for item {i}, "
    f"after a long debate about roads, schools and the new library in district {i}.</p>"
    for i in range(8)
)


def _page(nav: str) -> bytes:
    return (
        f"<html><head><title>Budget agreed</title></head><body><nav>{nav}</nav>"
        f"<article><h1>Budget agreed</h1>{ARTICLE}</article>"
        f"<footer>{nav} footer</footer></body></html>"
    ).encode()


def _site(delay: float = 0.0) -> SiteServer:
    html = {"Content-Type": "text/html; charset=utf-8"}
    return SiteServer(
        {
            "/news/budget": Response(200, _page("Home | News | Sport"), html),
            "/print/budget": Response(200, _page("Print edition"), html),
            "/amp/budget": Response(200, _page("AMP menu: Home Weather Traffic"), html),
        },
        delay=delay,
    )


async def test_the_same_article_under_three_urls_is_stored_once(
    tmp_path: Path, store_url: str
) -> None:
    db = store_url
    with _site() as site:
        urls = [site.url(p) for p in ("/news/budget", "/print/budget", "/amp/budget")]
        result = await quarry_crawl(
            urls=urls,
            job_id="dups",
            database_url=db,
            batch_size=2,
            options={"extract_workers": 0, "data_dir": str(tmp_path / "data")},
        )
    store = DocumentStore(db)
    assert [d["url"] for d in store.iter_documents("dups")] == [urls[0]]
    assert store.duplicates("dups") == {urls[1]: urls[0], urls[2]: urls[0]}
    assert (result.stored_count, result.duplicate_count, result.failed_count) == (1, 2, 0)
    assert result.failures_by_type == {}  # duplicates are pointers, not failures


def test_duplicates_stay_exact_across_kill_9_and_resume(tmp_path: Path, store_url: str) -> None:
    db = store_url
    with _site(delay=0.5) as site:
        urls = [site.url(p) for p in ("/news/budget", "/print/budget", "/amp/budget")]
        env = quarry_env(tmp_path)
        args = [
            "crawl",
            *urls,
            "--job-id",
            "dups-k9",
            "--db",
            db,
            "--batch-size",
            "1",
            "--concurrency",
            "1",
            "--no-progress",
        ]
        proc = start_quarry(args, tmp_path, env)
        wait_for_processed(db, "dups-k9", 1, timeout=120, proc=proc)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        final = run_quarry(
            ["crawl", "--resume", "dups-k9", "--db", db, "--no-progress"], tmp_path, env
        )
        assert final.returncode == 0, (final.stdout + final.stderr)[-3000:]
    store = DocumentStore(db)
    docs = list(store.iter_documents("dups-k9"))
    assert len(docs) == 1
    assert set(store.duplicates("dups-k9")) == set(urls) - {docs[0]["url"]}


async def test_a_near_duplicate_is_dropped_and_a_different_article_kept(
    tmp_path: Path, store_url: str
) -> None:
    html = {"Content-Type": "text/html; charset=utf-8"}
    edited = ARTICLE.replace("Paragraph 7: the committee met", "Paragraph 7: the council met")
    other = "".join(
        f"<p>Line {i}: the orchestra rehearsed a new symphony by a young composer "
        f"from the coast, and tickets for concert {i} sold out quickly.</p>"
        for i in range(8)
    )

    def page(body: str) -> bytes:
        return f"<html><body><article><h1>Title</h1>{body}</article></body></html>".encode()

    routes = {
        "/a": Response(200, page(ARTICLE), html),
        "/a-edited": Response(200, page(edited), html),
        "/b": Response(200, page(other), html),
    }
    db = store_url
    with SiteServer(routes) as site:
        await quarry_crawl(
            urls=[site.url(p) for p in routes],
            job_id="near",
            database_url=db,
            batch_size=1,
            options={
                "extract_workers": 0,
                "data_dir": str(tmp_path / "data"),
                "quality": {"enabled": False, "near_dedup": True},
            },
        )
        urls = {p: site.url(p) for p in routes}
    store = DocumentStore(db)
    assert store.url_states("near") == {
        urls["/a"]: ("stored", None),
        urls["/a-edited"]: ("duplicate", "NearDuplicate"),
        urls["/b"]: ("stored", None),
    }
    assert store.duplicates("near") == {urls["/a-edited"]: urls["/a"]}
