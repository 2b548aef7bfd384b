"""Link-following crawls: exact depth and page limits, scope, and resume after kill -9."""

from __future__ import annotations

import os
import signal
from datetime import UTC
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from quarrycore.flows.crawl import quarry_crawl
from quarrycore.store import DocumentStore
from tests.e2e.jobs import (
    depth_of,
    linked_site,
    quarry_env,
    run_quarry,
    start_quarry,
    wait_for_processed,
)


def _options(tmp_path: Path) -> dict[str, object]:
    return {
        "data_dir": str(tmp_path / "data"),
        "extract_workers": 0,
        "dead_letter_url": f"sqlite:///{tmp_path / 'dead_letter.db'}",
    }


async def test_max_depth_finds_every_reachable_page_once(tmp_path: Path) -> None:
    site = linked_site(fanout=3, levels=3)
    db = f"sqlite:///{tmp_path / 's.db'}"
    with site:
        result = await quarry_crawl(
            seeds=[site.url("/")],
            max_depth=2,
            job_id="depth",
            database_url=db,
            batch_size=5,
            options=_options(tmp_path),
        )
        requests = site.counts()
    requests.pop("/robots.txt")
    expected = {p for p in site.routes if p not in ("/hidden",) and depth_of(p) <= 2}
    assert set(requests) == expected  # nothing deeper, nothing nofollow, nothing off-site
    assert set(requests.values()) == {1}  # each page once, though linked from many
    states = DocumentStore(db).url_states("depth")
    assert {urlsplit(u).path for u in states} == expected
    assert states[site.url("/noindex")] == ("failed", "NoIndex")
    assert result.state == "completed" and result.stored_count == len(expected) - 1


async def test_max_pages_is_exact_and_scope_filters_apply(tmp_path: Path) -> None:
    site = linked_site(fanout=4, levels=3)
    db = f"sqlite:///{tmp_path / 's.db'}"
    with site:
        result = await quarry_crawl(
            seeds=[site.url("/")],
            max_depth=5,
            max_pages=10,
            exclude=["/n/0"],
            job_id="pages",
            database_url=db,
            batch_size=3,
            options=_options(tmp_path),
        )
        requested = set(site.counts()) - {"/robots.txt"}
    states = DocumentStore(db).url_states("pages")
    assert len(states) == 10 and result.processed_count == 10 and result.pending_count == 0
    assert len(requested) == 10
    assert not any(p.startswith("/n/0") for p in requested)


def test_crawl_mode_resumes_after_kill_9_without_fetching_a_page_twice(tmp_path: Path) -> None:
    site = linked_site(fanout=4, levels=3, delay=0.03)  # 1 + 4 + 16 + 64 pages
    db = f"sqlite:///{tmp_path / 'quarry.db'}"
    with site:
        env = quarry_env(tmp_path)
        args = [
            "crawl",
            "--seed",
            site.url("/"),
            "--max-depth",
            "3",
            "--job-id",
            "crawl-k9",
            "--db",
            db,
            "--batch-size",
            "8",
            "--concurrency",
            "4",
            "--no-progress",
        ]
        for target in (15, 45):
            proc = start_quarry(args, tmp_path, env)
            wait_for_processed(db, "crawl-k9", target, timeout=120, proc=proc)
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
        final = run_quarry(
            ["crawl", "--resume", "crawl-k9", "--db", db, "--no-progress"], tmp_path, env
        )
        assert final.returncode == 0, (final.stdout + final.stderr)[-3000:]
        log = list(site.log)
    store = DocumentStore(db)
    states = store.url_states("crawl-k9")
    expected = {p for p in site.routes if p != "/hidden" and depth_of(p) <= 3}
    assert {urlsplit(u).path for u in states} == expected
    docs = list(store.iter_documents("crawl-k9"))
    assert len(docs) == len({d["url"] for d in docs}) == len(expected) - 1  # /noindex failed
    committed = {
        urlsplit(d["url"]).path: d["stored_at"].replace(tzinfo=UTC).timestamp() for d in docs
    }
    late = [p for when, p in log if p in committed and when > committed[p]]
    assert late == []


@pytest.mark.parametrize("given", ["seed", "url"])  # a plain URL: no crawl scope asked for
async def test_sitemaps_index_and_gzip_sitemap_find_orphan_pages(
    tmp_path: Path, given: str
) -> None:
    import gzip

    from tests.support.siteserver import Response, html_page

    site = linked_site(fanout=2, levels=1)
    orphans = [f"/orphan/{i}" for i in range(6)]
    for path in orphans:  # linked from nowhere: only the sitemaps know them
        body = f"<p>{'An orphan page, linked from nowhere: ' * 4}{path}.</p>"
        site.routes[path] = Response(200, html_page(path, body))

    def urlset(paths: list[str]) -> bytes:
        locs = "".join(f"<url><loc>{site.url(p)}</loc></url>" for p in paths)
        return (
            f'<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/'
            f'sitemap/0.9">{locs}</urlset>'
        ).encode()

    xml = {"Content-Type": "application/xml"}
    db = f"sqlite:///{tmp_path / 's.db'}"
    with site:
        site.routes["/robots.txt"] = Response(
            200,
            f"User-agent: *\nSitemap: {site.url('/sitemap_index.xml')}\n".encode(),
            {"Content-Type": "text/plain"},
        )
        index = (
            '<?xml version="1.0"?><sitemapindex xmlns="http://www.sitemaps.org/schemas/'
            f'sitemap/0.9"><sitemap><loc>{site.url("/sm1.xml.gz")}</loc></sitemap>'
            f"<sitemap><loc>{site.url('/sm2.xml')}</loc></sitemap></sitemapindex>"
        )
        site.routes["/sitemap_index.xml"] = Response(200, index.encode(), xml)
        site.routes["/sm1.xml.gz"] = Response(
            200, gzip.compress(urlset(orphans[:3])), {"Content-Type": "application/gzip"}
        )
        site.routes["/sm2.xml"] = Response(200, urlset(orphans[3:]), xml)
        start = {"seeds": [site.url("/")], "max_depth": 0} if given == "seed" else {}
        result = await quarry_crawl(
            **start,
            urls=[site.url("/")] if given == "url" else None,
            sitemaps=True,
            job_id="sm",
            database_url=db,
            options=_options(tmp_path),
        )
    states = DocumentStore(db).url_states("sm")
    assert {urlsplit(u).path for u in states} == {"/", *orphans}
    assert result.stored_count == 7 and result.state == "completed"
