"""Helpers to run `quarry` as a real process and watch its job in the store."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path

import sqlalchemy as sa
from prefect.settings import PREFECT_API_URL

from quarrycore.store import DocumentStore
from tests.conftest import POSTGRES_ADMIN_URL
from tests.support.siteserver import Response, SiteServer, html_page

PAGE_TEXT = (
    "<p>This is page {i} of the test site. It has enough words to be kept as a document "
    "by the extractor, and a number that makes its text unique: {i}.</p>"
)


class NumberedSite(SiteServer):
    """A :class:`SiteServer` that also lists the URLs a test should crawl, in order."""

    def __init__(self, routes: Mapping[str, Response], *, missing: int, delay: float) -> None:
        super().__init__(routes, delay=delay)
        self.urls: list[str] = [self.url(p) for p in routes] + [
            self.url(f"/gone/{i}") for i in range(missing)
        ]


def numbered_site(pages: int, *, missing: int = 0, delay: float = 0.0) -> NumberedSite:
    """``pages`` small real pages at /p/<i>.html, then ``missing`` paths that 404."""
    routes = {
        f"/p/{i}.html": Response(
            200,
            html_page(f"Page {i}", PAGE_TEXT.format(i=i) * 3),
            {"Content-Type": "text/html; charset=utf-8"},
        )
        for i in range(pages)
    }
    return NumberedSite(routes, missing=missing, delay=delay)


def quarry_env(tmp_path: Path, *, prefect_api: bool = True) -> dict[str, str]:
    env = {
        **os.environ,
        "QUARRY_CHECKPOINT_DIR": str(tmp_path / "checkpoints"),
        "QUARRY_DATA_DIR": str(tmp_path / "data"),
        "QUARRY_EXTRACT_WORKERS": "1",
        "QUARRY_FETCH_BACKOFF_BASE": "0.05",
    }
    if prefect_api:
        env["PREFECT_API_URL"] = str(PREFECT_API_URL.value())
    else:
        env.pop("PREFECT_API_URL", None)
        env["PREFECT_HOME"] = str(tmp_path / "prefect-home")
    return env


def start_quarry(args: list[str], tmp_path: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    """`quarry ARGS` in its own process group, as a terminal would start it."""
    return subprocess.Popen(
        [sys.executable, "-m", "quarrycore.cli", *args],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def run_quarry(
    args: list[str], tmp_path: Path, env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "quarrycore.cli", *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def wait_for_processed(
    db_url: str,
    job_id: str,
    at_least: int,
    *,
    timeout: float,
    proc: subprocess.Popen[str] | None = None,
) -> int:
    """Poll the store until the job has ``at_least`` URLs done; return how many."""
    deadline = time.monotonic() + timeout
    store = DocumentStore(db_url)
    try:
        while time.monotonic() < deadline:
            if store.job_exists(job_id):
                done = store.counts(job_id).processed
                if done >= at_least:
                    return done
            if proc is not None and proc.poll() is not None:
                raise AssertionError(
                    f"quarry exited early ({proc.returncode}): "
                    f"{proc.stdout.read() if proc.stdout else ''}"
                )
            time.sleep(0.05)
    finally:
        store.close()
    raise AssertionError(f"job {job_id} did not reach {at_least} done in {timeout} s")


def linked_site(*, fanout: int, levels: int, delay: float = 0.0) -> SiteServer:
    """An interlinked site: "/" links to /n/0..fanout-1, each page to its children,
    back to "/", to its siblings; plus a nofollow link, an off-site link, a noindex page.
    Pages at depth d are /n/<i>/<j>/... with d path segments after /n."""
    routes: dict[str, Response] = {}

    def page(path: str, level: int) -> None:
        children = (
            [f"{path.rstrip('/')}/{i}" if path != "/" else f"/n/{i}" for i in range(fanout)]
            if level < levels
            else []
        )
        links = "".join(f'<a href="{c}">child {c}</a> ' for c in children)
        links += '<a href="/">home</a> <a href="http://elsewhere.invalid/x">away</a> '
        links += '<a rel="nofollow" href="/hidden">hidden</a> <a href="/noindex">noindex</a>'
        body = PAGE_TEXT.format(i=path) * 2 + f"<nav>{links}</nav>"
        routes[path] = Response(
            200, html_page(f"Page {path}", body), {"Content-Type": "text/html; charset=utf-8"}
        )
        for child in children:
            page(child, level + 1)

    page("/", 0)
    routes["/hidden"] = Response(200, html_page("Hidden", PAGE_TEXT.format(i="hidden")))
    routes["/noindex"] = Response(
        200,
        html_page("No index", '<meta name="robots" content="noindex">' + PAGE_TEXT.format(i="x")),
    )
    return SiteServer(routes, delay=delay)


def depth_of(path: str) -> int:
    """Link depth of a linked_site page from "/"."""
    if path == "/":
        return 0
    if path == "/noindex":
        return 1
    return path.count("/") - 1


def postgres_outage(database: str, seconds: float, began: threading.Event) -> None:
    """Kill ``database``'s connections and refuse new ones for ``seconds`` (a restart or
    a failover, as the store sees it); ``began`` is set once it is away."""
    admin = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'ALTER DATABASE "{database}" WITH ALLOW_CONNECTIONS false'))
            conn.execute(
                sa.text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = :name AND pid <> pg_backend_pid()"
                ),
                {"name": database},
            )
            began.set()
            time.sleep(seconds)  # the outage itself: how long the database stays away
            conn.execute(sa.text(f'ALTER DATABASE "{database}" WITH ALLOW_CONNECTIONS true'))
    finally:
        admin.dispose()
