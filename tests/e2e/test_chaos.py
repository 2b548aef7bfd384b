"""Everything at once: a 2,000-URL job on a misbehaving site (a slow robots.txt with a
Crawl-delay, Retry-After 503s, connection resets), its store away for 20 s mid-run, and
two SIGKILLs. It completes; every URL is stored once or dead-lettered with its reason;
none failed for the outage; none was requested after its commit. SQLite and PostgreSQL."""

from __future__ import annotations

import os
import signal
import sqlite3
import threading
import time
from datetime import UTC
from pathlib import Path
from urllib.parse import urlsplit

import sqlalchemy as sa

from quarrycore.deadletters import DeadLetterFilter, DeadLetterStore
from quarrycore.store import DocumentStore
from tests.e2e.jobs import (
    PAGE_TEXT,
    postgres_outage,
    quarry_env,
    run_quarry,
    start_quarry,
    wait_for_processed,
)
from tests.support.siteserver import Response, SiteServer, html_page

PAGES, MISSING = 1_990, 10
OUTAGE_SECONDS = 20.0
HTML = {"Content-Type": "text/html; charset=utf-8"}


def _page(i: int) -> Response:
    return Response(200, html_page(f"Page {i}", PAGE_TEXT.format(i=i) * 3), HTML)


def _once_then_page(i: int, first: Response) -> object:
    def route(hits: int) -> Response:
        return first if hits == 1 else _page(i)

    return route


def chaos_site() -> SiteServer:
    routes: dict[str, object] = {
        # Slow to answer, and a Crawl-delay: URLs queue for the host's turn.
        "/robots.txt": Response(200, b"User-agent: *\nCrawl-delay: 0.002\n", {}, delay=1.5)
    }
    for i in range(PAGES):
        if i % 400 == 7:  # busy: come back in a second (the whole host waits)
            routes[f"/p/{i}.html"] = _once_then_page(
                i, Response(503, b"busy", {"Retry-After": "1"})
            )
        elif i % 61 == 5:  # the connection dies once
            routes[f"/p/{i}.html"] = _once_then_page(i, Response(200, b"", HTML, reset=True))
        else:
            routes[f"/p/{i}.html"] = _page(i)
    return SiteServer(routes)  # type: ignore[arg-type]


def _sqlite_outage(path: Path, seconds: float, began: threading.Event) -> None:
    """Hold the store's write lock for ``seconds``, as a stuck writer would."""
    conn = sqlite3.connect(path, timeout=60, isolation_level=None)
    conn.execute("BEGIN EXCLUSIVE")
    began.set()
    time.sleep(seconds)  # the outage itself
    conn.execute("ROLLBACK")
    conn.close()


def _outage(store_url: str, began: threading.Event) -> threading.Thread:
    url = sa.make_url(store_url)
    if url.get_backend_name() == "sqlite":
        path = Path(url.database or "")
        return threading.Thread(target=_sqlite_outage, args=(path, OUTAGE_SECONDS, began))
    name = url.database or ""
    return threading.Thread(target=postgres_outage, args=(name, OUTAGE_SECONDS, began))


def test_a_job_survives_a_bad_site_an_outage_and_two_kills(store_url: str, tmp_path: Path) -> None:
    site = chaos_site()
    urls = [site.url(f"/p/{i}.html") for i in range(PAGES)]
    urls += [site.url(f"/gone/{i}") for i in range(MISSING)]  # 404: permanent failures
    (tmp_path / "urls.txt").write_text("\n".join(urls))
    env = quarry_env(tmp_path)
    env.update(QUARRY_STORE_OUTAGE_WAIT="120", QUARRY_TASK_RETRY_DELAY="0.5")
    args = ["crawl", "--urls-file", "urls.txt", "--job-id", "chaos", "--db", store_url]
    args += ["--batch-size", "50", "--concurrency", "16", "--no-progress"]
    began = threading.Event()
    with site:
        first = start_quarry(args, tmp_path, env)
        wait_for_processed(store_url, "chaos", 300, timeout=300, proc=first)
        os.killpg(first.pid, signal.SIGKILL)  # first kill
        first.wait(timeout=30)

        second = start_quarry(args, tmp_path, env)
        wait_for_processed(store_url, "chaos", 800, timeout=300, proc=second)
        outage = _outage(store_url, began)
        outage.start()
        outage.join()  # 20 s without a store, the run waiting for it
        wait_for_processed(store_url, "chaos", 1_300, timeout=300, proc=second)
        os.killpg(second.pid, signal.SIGKILL)  # second kill, after the outage
        second.wait(timeout=30)

        final = run_quarry(args, tmp_path, env)
        log = list(site.log)
    assert began.is_set()
    assert final.returncode == 0, (final.stdout + final.stderr)[-3000:]

    store = DocumentStore(store_url)
    states = store.url_states("chaos")
    assert len(states) == PAGES + MISSING
    failed = {u: e for u, (s, e) in states.items() if s == "failed"}
    assert failed == {u: "HTTPStatus" for u in urls[PAGES:]}  # none for the outage
    docs = list(store.iter_documents("chaos"))
    assert len(docs) == len({d["url"] for d in docs}) == PAGES  # each stored once
    committed = {
        urlsplit(d["url"]).path: d["stored_at"].replace(tzinfo=UTC).timestamp() for d in docs
    }
    late = [(path, when) for when, path in log if path in committed and when > committed[path]]
    assert late == []  # no URL requested after its commit
    open_rows = list(
        DeadLetterStore(f"sqlite:///{tmp_path / 'dead_letter.db'}").rows(
            DeadLetterFilter(job_id="chaos")
        )
    )
    assert sorted(r["url"] for r in open_rows) == sorted(failed)
    assert {(r["stage"], r["error_type"]) for r in open_rows} == {("crawl", "HTTPStatus")}
    store.close()
