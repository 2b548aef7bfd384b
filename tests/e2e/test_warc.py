"""The raw archive of a crawl of a real site: every page's response is a WARC record
that standard tools read, each row points at its own record, and re-extraction from the
archive gives the same documents without a single request to the site."""

from __future__ import annotations

import gzip
import subprocess
import sys
from pathlib import Path

from quarrycore.flows.crawl import quarry_crawl
from quarrycore.flows.reextract import quarry_reextract
from quarrycore.store import DocumentStore
from tests.e2e.jobs import PAGE_TEXT
from tests.support.siteserver import Response, SiteServer, html_page
from tests.support.warcs import check_archive, responses

HTML = {"Content-Type": "text/html; charset=utf-8"}


def _site() -> SiteServer:
    routes: dict[str, Response] = {
        f"/p/{i}.html": Response(200, html_page(f"Page {i}", PAGE_TEXT.format(i=i) * 3), HTML)
        for i in range(24)
    }
    routes["/copy.html"] = routes["/p/0.html"]  # a duplicate
    routes["/moved"] = Response(301, b"", {"Location": "/p/1.html"})  # a redirect
    routes["/zipped.html"] = Response(  # gzip on the wire: archived as received
        200,
        gzip.compress(html_page("Zipped", PAGE_TEXT.format(i="zipped") * 3)),
        {**HTML, "Content-Encoding": "gzip"},
    )
    routes["/short.html"] = Response(200, html_page("Short", "<p>Too short.</p>"), HTML)
    return SiteServer(routes)


def _options(tmp_path: Path) -> dict[str, object]:
    return {
        "allow_private_networks": True,
        "per_host_delay": 0,
        "per_host_concurrency": 16,
        "data_dir": str(tmp_path / "data"),
        "dead_letter_url": f"sqlite:///{tmp_path / 'dead_letter.db'}",
        "quality": {"enabled": True, "min_words": 10},
    }


def test_crawl_is_archived_and_reextracts_without_a_request(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'store.db'}"
    warc_dir = tmp_path / "data" / "warc"
    with _site() as site:
        urls = [site.url(path) for path in site.routes] + [site.url("/missing")]
        result = quarry_crawl(urls=urls, job_id="arc", database_url=db, options=_options(tmp_path))
        assert result.state == "completed"
        store = DocumentStore(db)
        states = store.url_states("arc")
        assert states[site.url("/copy.html")][0] == "duplicate"
        assert states[site.url("/short.html")] == ("filtered", "word_count")
        assert states[site.url("/missing")][0] == "failed"
        assert states[site.url("/zipped.html")][0] == "stored"

        refs = check_archive(store, "arc", warc_dir)
        archived = responses(warc_dir)
        assert archived[refs[site.url("/moved")]] == site.url("/p/1.html")  # the page's own
        assert site.url("/missing") not in refs  # no page: nothing to re-extract
        # The redirect itself is archived too (a response record of its own).
        assert site.url("/moved") in archived.values()
        for path in warc_dir.rglob("*.warc.gz"):  # standard tools read the files
            indexed = subprocess.run(
                [sys.executable, "-m", "warcio.cli", "index", str(path)],
                capture_output=True,
                text=True,
                check=True,
            )
            assert indexed.stdout.count('"response"') >= len(refs)
        hashes = {d["url"]: d["content_hash"] for d in store.iter_documents("arc", which="all")}

        asked = len(site.log)
        again = quarry_reextract(job_id="arc", database_url=db, options=_options(tmp_path))
        assert len(site.log) == asked  # not one request to the site
    assert again.state == "completed"
    assert store.url_states("arc") == states
    rehashed = {d["url"]: d["content_hash"] for d in store.iter_documents("arc", which="all")}
    assert rehashed == hashes and len(hashes) == 26  # 24 pages, the zipped and the short
    assert check_archive(store, "arc", warc_dir) == refs  # the same records, still once
    store.close()
