"""QuarryCore operated the Prefect way, against a real `prefect server start` (on
PostgreSQL) and a real process worker, through Prefect's own CLI.

Marked ``deployment``: `pytest -m "not deployment"` skips them locally; CI runs them."""

from __future__ import annotations

import dataclasses
import functools
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa

from quarrycore.checkpoint import read_checkpoint
from quarrycore.deadletters import DeadLetterFilter, DeadLetterStore
from quarrycore.store import DocumentStore
from tests.conftest import POSTGRES_ADMIN_URL
from tests.e2e.jobs import numbered_site, wait_for_processed
from tests.e2e.prefect_server import PrefectStack, new_postgres_database, start_stack
from tests.support.siteserver import Response, SiteServer, html_page

pytestmark = pytest.mark.deployment


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrefectStack]:
    import os

    from tests.conftest import _postgres_available

    problem = _postgres_available()
    if problem is not None:
        if os.environ.get("QUARRY_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"PostgreSQL is required for the Prefect server tests: {problem}")
        pytest.skip(f"no PostgreSQL for the Prefect server: {problem}")
    name, url = new_postgres_database(POSTGRES_ADMIN_URL)
    try:
        # The scheduler looks for due schedules every second, not every minute (the
        # schedule test's interval is a few seconds).
        yield from start_stack(
            tmp_path_factory.mktemp("prefect"),
            url,
            server_env={"PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS": "1"},
        )
    finally:
        admin = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _params(tmp_path: Path, **extra: Any) -> dict[str, Any]:
    return {
        "database_url": f"sqlite:///{tmp_path / 'quarry.db'}",
        "options": {
            "checkpoint_dir": str(tmp_path / "checkpoints"),
            "data_dir": str(tmp_path / "data"),
            "dead_letter_url": f"sqlite:///{tmp_path / 'dead_letter.db'}",
            "extract_workers": 1,
            "fetch_backoff_base": 0.05,
        },
        **extra,
    }


def test_deployment_run_completes_and_stores_every_page(
    stack: PrefectStack, tmp_path: Path
) -> None:
    site = numbered_site(60)
    with site:
        started = time.monotonic()
        run_id, result = stack.run_deployment(
            "quarry-crawl/quarry-crawl",
            _params(tmp_path, urls=site.urls, job_id="deployed", batch_size=20),
            watch=True,
        )
        elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    run = stack.flow_run(run_id)
    assert run["state_type"] == "COMPLETED" and run["name"] == "deployed"
    counts = DocumentStore(f"sqlite:///{tmp_path / 'quarry.db'}").counts("deployed")
    assert (counts.stored, counts.failed, counts.pending) == (60, 0, 0)
    print(f"prefect deployment run -> Completed: {elapsed:.1f} s")


def _slow_while(slow: threading.Event, page: Response, _hits: int) -> Response:
    return dataclasses.replace(page, delay=1.0 if slow.is_set() else 0.0)


@pytest.mark.parametrize("way_back", ["new-deployment-run", "prefect-flow-run-retry"])
def test_cancelled_run_resumes(stack: PrefectStack, tmp_path: Path, way_back: str) -> None:
    db = f"sqlite:///{tmp_path / 'quarry.db'}"
    site = numbered_site(240)
    # Past the first 60 pages the site answers slowly until the run is cancelled: the
    # run cannot finish before the cancellation lands, however busy the machine is.
    slow = threading.Event()
    slow.set()
    for path in list(site.routes)[60:]:
        page = site.routes[path]
        assert isinstance(page, Response)
        site.routes[path] = functools.partial(_slow_while, slow, page)
    with site:
        params = _params(
            tmp_path,
            urls=site.urls,
            job_id="cancel-me",
            batch_size=10,
            concurrency=4,
        )
        run_id, _ = stack.run_deployment("quarry-crawl/quarry-crawl", params, watch=False)
        wait_for_processed(db, "cancel-me", 30, timeout=180)
        cancelled_at = time.monotonic()
        cancel = stack.prefect("flow-run", "cancel", run_id)
        assert cancel.returncode == 0, cancel.stdout + cancel.stderr
        assert stack.wait_state(run_id, {"CANCELLED"}, timeout=120) == "CANCELLED"
        to_cancelled = time.monotonic() - cancelled_at
        slow.clear()

        store = DocumentStore(db)
        counts = store.counts("cancel-me")
        assert 0 < counts.processed < 240
        checkpoint = read_checkpoint(tmp_path / "checkpoints" / "cancel-me.json")
        assert checkpoint.stage in ("interrupted", "cancelled")
        assert (checkpoint.processed_count, checkpoint.pending_count) == (
            counts.processed,
            counts.pending,
        )
        pending = {u for u, (s, _) in store.url_states("cancel-me").items() if s == "pending"}
        assert set(checkpoint.urls_remaining) == pending

        if way_back == "new-deployment-run":
            again, result = stack.run_deployment(
                "quarry-crawl/quarry-crawl", {**params, "urls": [], "resume": True}, watch=True
            )
        else:
            result = stack.prefect("flow-run", "retry", run_id)
            again = run_id
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
        assert stack.wait_state(again, {"COMPLETED"}, timeout=300) == "COMPLETED"
        log = list(site.log)

    final = store.counts("cancel-me")
    assert (final.stored, final.pending) == (240, 0)
    docs = list(store.iter_documents("cancel-me"))
    assert len(docs) == 240
    committed = {
        urlsplit(d["url"]).path: d["stored_at"].replace(tzinfo=UTC).timestamp() for d in docs
    }
    refetched_after_commit = [p for when, p in log if p in committed and when > committed[p]]
    assert refetched_after_commit == []
    print(
        f"{way_back}: cancel -> Cancelled in {to_cancelled:.1f} s; "
        f"{counts.processed} URLs done at the cancel; "
        f"{sum(1 for _ in log) - 240} URLs fetched twice (never after their commit)"
    )


def test_replay_deployment_resolves_a_recovered_url(stack: PrefectStack, tmp_path: Path) -> None:
    state = {"down": True}

    def recovering(hits: int) -> Response:
        if state["down"]:
            return Response(503, b"<html><body>busy</body></html>")
        return Response(200, html_page("Back", "<p>" + "Back in service today. " * 12 + "</p>"))

    site = numbered_site(5)
    site.routes["/recovering"] = recovering
    with site:
        params = _params(
            tmp_path,
            urls=[*site.urls, site.url("/recovering")],
            job_id="replayed",
        )
        _, first = stack.run_deployment("quarry-crawl/quarry-crawl", params, watch=True)
        assert first.returncode == 0, first.stdout[-3000:]
        dead_letters = DeadLetterStore(params["options"]["dead_letter_url"])
        assert [r["url"] for r in dead_letters.rows(DeadLetterFilter(job_id="replayed"))] == [
            site.url("/recovering")
        ]
        state["down"] = False
        run_id, replay = stack.run_deployment(
            "replay-dead-letters/replay-dead-letters",
            {
                "job_id": "replayed",
                "only_due": False,
                "database_url": params["database_url"],
                "dead_letter_url": params["options"]["dead_letter_url"],
                "options": params["options"],
            },
            watch=True,
        )
    assert replay.returncode == 0, replay.stdout[-3000:]
    assert stack.flow_run(run_id)["state_type"] == "COMPLETED"
    store = DocumentStore(params["database_url"])
    assert store.url_states("replayed")[site.url("/recovering")] == ("stored", None)
    assert list(dead_letters.rows(DeadLetterFilter(job_id="replayed"))) == []
    assert dead_letters.for_url(site.url("/recovering"))[0]["resolved_at"] is not None


def test_refilter_deployment_judges_a_crawled_job_again(
    stack: PrefectStack, tmp_path: Path
) -> None:
    site = numbered_site(12)
    with site:
        params = _params(tmp_path, urls=site.urls, job_id="to-refilter", batch_size=6)
        _, crawled = stack.run_deployment("quarry-crawl/quarry-crawl", params, watch=True)
        assert crawled.returncode == 0, crawled.stdout[-3000:] + crawled.stderr[-2000:]
        fetched = sum(site.counts().values())
        # Today's settings: every page is shorter than 1,000 words now.
        strict = {**params["options"], "quality": {"enabled": True, "min_words": 1000}}
        run_id, result = stack.run_deployment(
            "quarry-refilter/quarry-refilter",
            {"job_id": "to-refilter", "database_url": params["database_url"], "options": strict},
            watch=True,
        )
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
        assert stack.flow_run(run_id)["state_type"] == "COMPLETED"
        assert sum(site.counts().values()) == fetched  # not one request more
    counts = DocumentStore(params["database_url"]).counts("to-refilter")
    assert (counts.stored, counts.filtered) == (0, 12)
    assert counts.filtered_by == {"word_count": 12}


def test_reextract_deployment_extracts_a_crawled_job_from_its_archive(
    stack: PrefectStack, tmp_path: Path
) -> None:
    site = numbered_site(12)
    with site:
        params = _params(tmp_path, urls=site.urls, job_id="to-reextract", batch_size=6)
        _, crawled = stack.run_deployment("quarry-crawl/quarry-crawl", params, watch=True)
        assert crawled.returncode == 0, crawled.stdout[-3000:] + crawled.stderr[-2000:]
        fetched = sum(site.counts().values())
        texts = {
            d["url"]: d["text"] for d in DocumentStore(params["database_url"]).iter_documents()
        }
        # Today's settings: stricter filters; the pages come from the WARC files.
        strict = {**params["options"], "quality": {"enabled": True, "min_words": 1000}}
        run_id, result = stack.run_deployment(
            "quarry-reextract/quarry-reextract",
            {"job_id": "to-reextract", "database_url": params["database_url"], "options": strict},
            watch=True,
        )
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
        assert stack.flow_run(run_id)["state_type"] == "COMPLETED"
        assert sum(site.counts().values()) == fetched  # not one request more
    store = DocumentStore(params["database_url"])
    counts = store.counts("to-reextract")
    assert (counts.stored, counts.filtered, counts.pending) == (0, 12, 0)
    again = {d["url"]: d["text"] for d in store.iter_documents(which="filtered")}
    assert again == texts  # the same texts, judged by today's filters


def _changing_page(i: int, changes: bool) -> Callable[[int], Response]:
    """Page ``i``: version 1 at its first request, version 2 from its second on when it
    ``changes``; an ETag per version (the server answers a matching revisit 304)."""

    def handler(hits: int) -> Response:
        version = 2 if changes and hits >= 2 else 1
        text = f"Page {i}, version {version}, with enough words to be a document. " * 4
        return Response(
            200,
            html_page(f"Page {i}", f"<p>{text}</p>"),
            {"Content-Type": "text/html; charset=utf-8", "ETag": f'"{i}-v{version}"'},
        )

    return handler


def test_the_scheduled_deployment_refreshes_only_what_changed(
    stack: PrefectStack, tmp_path: Path
) -> None:
    """The shipped quarry-crawl-scheduled deployment on an interval schedule of a few
    seconds: at least two runs; the first stores every page, the later ones ask each
    page conditionally and download (and version) only the three that changed."""
    import asyncio
    from datetime import timedelta

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import DeploymentScheduleCreate
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId
    from prefect.client.schemas.schedules import IntervalSchedule
    from prefect.settings import PREFECT_API_URL, temporary_settings

    site = SiteServer({f"/p/{i}": _changing_page(i, changes=i < 3) for i in range(10)})
    params = _params(tmp_path, urls=[site.url(f"/p/{i}") for i in range(10)], job_id="daily")
    params.update(urls_file=None, recrawl_after="1s")

    async def schedule(active: bool, schedule_id: Any = None) -> tuple[Any, int]:
        async with get_client() as client:
            deployment = await client.read_deployment_by_name("quarry-crawl/quarry-crawl-scheduled")
            if active:
                (made,) = await client.create_deployment_schedules(
                    deployment.id,
                    [
                        DeploymentScheduleCreate(
                            schedule=IntervalSchedule(interval=timedelta(seconds=4)),
                            active=True,
                            parameters=params,
                        )
                    ],
                )
                return made.id, 0
            await client.delete_deployment_schedule(deployment.id, schedule_id)
            runs = await client.read_flow_runs(
                deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment.id]))
            )
            return None, sum(1 for run in runs if run.state and run.state.is_completed())

    with site, temporary_settings(updates={PREFECT_API_URL: stack.api_url}):
        schedule_id, _ = asyncio.run(schedule(True))
        store = DocumentStore(params["database_url"])
        deadline = time.monotonic() + 240
        try:
            while True:  # until a second run has revisited every page
                assert time.monotonic() < deadline, (stack.home / "worker.log").read_text()[-3000:]
                if store.job_exists("daily"):
                    counts = store.counts("daily")
                    if (
                        counts.visit_run >= 2
                        and counts.pending == 0
                        and sum(counts.visits.values()) == 10
                    ):
                        break
                time.sleep(0.5)
        finally:
            _, completed = asyncio.run(schedule(False, schedule_id))
    assert completed >= 1  # the first run, at least, has finished as Completed
    counts = store.counts("daily")
    assert counts.stored == 10 and counts.failed == 0
    versions = store.version_counts("daily")
    assert sorted(versions.values()) == [1] * 7 + [2] * 3
    # Each page's revisits were conditional; only a changed page's first revisit had a body.
    for i in range(10):
        asked = [e for e in site.exchanges if e.path == f"/p/{i}"]
        assert len(asked) >= 2 and "If-None-Match" not in asked[0].headers
        assert all(e.headers.get("If-None-Match", "").startswith(f'"{i}-v') for e in asked[1:])
        with_body = [n for n, e in enumerate(asked) if e.status == 200]
        assert with_body == ([0, 1] if i < 3 else [0])
    store.close()


def test_warc_deployment_takes_in_an_archived_crawl(stack: PrefectStack, tmp_path: Path) -> None:
    """quarry-warc on a real server and worker: a WARC file's records stored, the job run
    again reads nothing twice."""
    from tests.support.warcfiles import write_warc

    text = "Archived page {i}, with enough words of its own to be kept as a document. " * 4
    pages = {
        f"http://archive.test/{i}": f"<html><body><p>{text.format(i=i)}</p></body></html>".encode()
        for i in range(30)
    }
    warc = write_warc(tmp_path / "in.warc.gz", pages)
    params = _params(tmp_path, warc_files=[str(warc)], job_id="archived")
    for _ in range(2):
        run_id, result = stack.run_deployment("quarry-crawl/quarry-warc", params, watch=True)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
        assert stack.flow_run(run_id)["state_type"] == "COMPLETED"
    store = DocumentStore(params["database_url"])
    counts = store.counts("archived")
    assert (counts.stored, counts.pending, counts.failed) == (30, 0, 0)
    assert sorted(d["url"] for d in store.iter_documents("archived")) == sorted(pages)
