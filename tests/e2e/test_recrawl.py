"""Revisits on a site whose pages change between runs: three runs of one job (a crawl,
then two recrawls) find exactly the new, changed, unchanged and gone pages; changed
pages keep their versions; every revisit of a page with validators is a conditional
request, and a 304 carries no body."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

from quarrycore.flows.crawl import quarry_crawl
from quarrycore.store import DocumentStore
from quarrycore.store.export import export_documents
from tests.e2e.jobs import quarry_env, run_quarry, start_quarry
from tests.support.siteserver import Response, SiteServer, html_page

HTML = {"Content-Type": "text/html; charset=utf-8"}
TEXT = (
    "<p>This is the {name} page, version {v}. It says enough about {name} to be kept as a "
    "document by the extractor, and its version makes the text its own: {v}.</p>"
)


def _page(name: str, v: int, *, etag: bool = False, modified: bool = False) -> Response:
    headers = dict(HTML)
    if etag:
        headers["ETag"] = f'"{name}-v{v}"'
    if etag or modified:
        headers["Last-Modified"] = f"Mon, 0{v} Nov 2026 10:00:00 GMT"
    return Response(200, html_page(name, TEXT.format(name=name, v=v) * 3), headers)


def _site_at(site: SiteServer, version: dict[str, int], gone: set[str]) -> None:
    """Serve each page at its version; the gone ones answer 404 or 410."""
    for i in range(5):
        name = f"etag-{i}"
        site.routes[f"/etag/{i}"] = _page(name, version.get(name, 1), etag=True)
    for i in range(3):
        site.routes[f"/lm/{i}"] = _page(f"lm-{i}", 1, modified=True)
    for i in range(4):
        name = f"plain-{i}"
        site.routes[f"/plain/{i}"] = _page(name, version.get(name, 1))
    for i, status in enumerate((404, 410)):
        path = f"/gone/{i}"
        site.routes[path] = Response(status, b"gone") if path in gone else _page(f"gone-{i}", 1)


def _run(site: SiteServer, db: str, tmp_path: Path, **more: object) -> dict[str, int]:
    result = quarry_crawl(
        job_id="fresh",
        database_url=db,
        options={
            "allow_private_networks": True,
            "per_host_delay": 0,
            "data_dir": str(tmp_path / "data"),
            "dead_letter_url": f"sqlite:///{tmp_path / 'dead_letter.db'}",
        },
        **more,
    )
    assert result.state == "completed"
    return {name: result.visits.get(name, 0) for name in ("new", "changed", "unchanged", "gone")}


def test_three_runs_find_exactly_what_changed(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'store.db'}"
    site = SiteServer()
    _site_at(site, {}, set())
    with site:
        urls = [site.url(path) for path in sorted(site.routes)]
        assert _run(site, db, tmp_path, urls=urls) == {
            "new": 14,
            "changed": 0,
            "unchanged": 0,
            "gone": 0,
        }
        first = len(site.exchanges)

        _site_at(site, {"etag-0": 2, "etag-1": 2, "plain-0": 2}, {"/gone/0"})
        assert _run(site, db, tmp_path, recrawl_after="0.001") == {
            "new": 0,
            "changed": 3,
            "unchanged": 10,
            "gone": 1,
        }
        second = len(site.exchanges)

        _site_at(
            site, {"etag-0": 3, "etag-1": 2, "plain-0": 2, "plain-1": 2}, {"/gone/0", "/gone/1"}
        )
        assert _run(site, db, tmp_path, recrawl_after="0.001") == {
            "new": 0,
            "changed": 2,
            "unchanged": 10,
            "gone": 2,
        }
        revisits = [e for e in site.exchanges[first:] if e.path in site.routes]
        assert len(revisits) == 28 and len(site.exchanges[first:second]) > 0

    # Every revisit of a page that sent validators asked conditionally; a 304 sent no body.
    for exchange in revisits:
        if exchange.path.startswith("/etag/"):
            assert exchange.headers.get("If-None-Match", "").startswith('"etag-')
        if exchange.path.startswith(("/etag/", "/lm/")):
            assert "If-Modified-Since" in exchange.headers
        else:
            assert "If-None-Match" not in exchange.headers
        if exchange.status == 304:
            assert exchange.body_bytes == 0
    not_modified = [e for e in revisits if e.status == 304]
    assert len(not_modified) == 6 + 7  # run 2: etag 2-4, lm 0-2; run 3: etag 1-4, lm 0-2

    store = DocumentStore(db)
    versions = store.version_counts("fresh")
    assert {url.split("/", 3)[3]: n for url, n in versions.items() if n > 1} == {
        "etag/0": 3,
        "etag/1": 2,
        "plain/0": 2,
        "plain/1": 2,
    }
    counts = store.counts("fresh")
    assert (counts.stored, counts.gone, counts.failed, counts.pending) == (12, 2, 0, 0)

    # Exports: the latest version of each page still there; every version; since a date.
    rows = _export(store, tmp_path, "latest")
    assert len(rows) == 12 and all(r["gone_at"] is None for r in rows)
    assert {r["version"] for r in rows if str(r["url"]).endswith("/etag/0")} == {3}
    everything = _export(store, tmp_path, "all")
    assert len(everything) == 12 + 2 + (2 + 1 + 1 + 1)  # + the gone pages' + earlier ones
    store.close()


def _export(store: DocumentStore, tmp_path: Path, versions: str) -> list[dict[str, object]]:
    out = tmp_path / f"{versions}.jsonl"
    export_documents(store, out, fmt="jsonl", job_id="fresh", versions=versions)  # type: ignore[arg-type]
    return [json.loads(line) for line in out.read_text().splitlines()]


def test_a_recrawl_killed_mid_round_resumes_without_a_second_version(tmp_path: Path) -> None:
    """`kill -9` during a recrawl, then the same command again: the round goes on (no new
    round, no URL left out), and no changed page gets two new versions."""
    db = f"sqlite:///{tmp_path / 'quarry.db'}"
    pages = 300
    site = SiteServer(delay=0.01)
    for i in range(pages):
        site.routes[f"/p/{i}"] = _page(f"page-{i}", 1, etag=True)
    with site:
        urls_file = tmp_path / "urls.txt"
        urls_file.write_text("\n".join(site.url(f"/p/{i}") for i in range(pages)))
        env = quarry_env(tmp_path)
        base = ["crawl", "--job-id", "rk", "--db", db, "--batch-size", "20", "--no-progress"]
        first = run_quarry([*base, "--urls-file", str(urls_file)], tmp_path, env)
        assert first.returncode == 0, (first.stdout + first.stderr)[-3000:]
        for i in range(0, pages, 2):  # every other page changes
            site.routes[f"/p/{i}"] = _page(f"page-{i}", 2, etag=True)

        recrawl = [*base, "--recrawl-after", "0.001"]
        proc = start_quarry(recrawl, tmp_path, env)
        store = DocumentStore(db)
        deadline = time.monotonic() + 120
        while True:  # until part of the round is committed
            assert time.monotonic() < deadline and proc.poll() is None, "recrawl ended early"
            counts = store.counts("rk")
            if counts.visit_run == 2 and 60 <= pages - counts.pending <= pages - 60:
                break
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        assert store.counts("rk").pending > 0

        again = run_quarry(recrawl, tmp_path, env)
        assert again.returncode == 0, (again.stdout + again.stderr)[-3000:]

    counts = store.counts("rk")
    assert (counts.pending, counts.visit_run) == (0, 2)  # one round, finished
    assert counts.visits == {"changed": pages // 2, "unchanged": pages // 2}
    versions = store.version_counts("rk")
    assert sorted(versions.values()) == [1] * (pages // 2) + [2] * (pages // 2)
    assert all(versions[site.url(f"/p/{i}")] == 2 for i in range(0, pages, 2))
    store.close()
