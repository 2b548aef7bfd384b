"""One job of 1,200 URLs on six hosts fanned out into 4 shards, run by 2 real `prefect
worker` processes on one real Prefect server backed by PostgreSQL, the store on
PostgreSQL too: every URL stored once, no host over its in-flight limit; then the same
job with one worker SIGKILLed (its process group and its flow runs: the machine gone)
mid-job, finished by the other worker with no manual step.

Marked ``deployment``; CI runs them."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from contextlib import ExitStack, suppress
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from quarrycore.store import DocumentStore
from quarrycore.store.schema import job_urls
from tests.conftest import POSTGRES_ADMIN_URL
from tests.e2e.prefect_server import PrefectStack, new_postgres_database, start_stack
from tests.e2e.test_fanout import linked_hosts
from tests.support.siteserver import SiteServer

pytestmark = [pytest.mark.deployment, pytest.mark.postgres]
HOSTS, PAGES, SHARDS, PER_HOST = 6, 200, 4, 2
LEASE_TTL = 30.0


@pytest.fixture(scope="module")
def workers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrefectStack]:
    from tests.conftest import _postgres_available

    problem = _postgres_available()
    if problem is not None:
        if os.environ.get("QUARRY_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"PostgreSQL is required for the Prefect server tests: {problem}")
        pytest.skip(f"no PostgreSQL for the Prefect server: {problem}")
    name, url = new_postgres_database(POSTGRES_ADMIN_URL)
    try:
        # Three flow runs a worker at most: the parent and 4 shards spread over both.
        yield from start_stack(
            tmp_path_factory.mktemp("fanout"), url, workers=2, worker_args=("--limit", "3")
        )
    finally:
        admin = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _params(tmp_path: Path, store: str, urls: list[str], job_id: str) -> dict[str, Any]:
    urls_file = tmp_path / "urls.txt"
    urls_file.write_text("\n".join(urls) + "\n")
    return {
        "urls_file": str(urls_file),
        "job_id": job_id,
        "database_url": store,
        "shards": SHARDS,
        "batch_size": 25,
        "options": {
            "checkpoint_dir": str(tmp_path / "checkpoints"),
            "data_dir": str(tmp_path / "data"),
            "dead_letter_url": f"sqlite:///{tmp_path / 'dead_letter.db'}",
            "extract_workers": 1,
            "fetch_backoff_base": 0.05,
            "per_host_concurrency": PER_HOST,
            "job_lock_ttl": LEASE_TTL,
            "shard_poll_interval": 1.0,
        },
    }


def _committed(store_url: str, job_id: str) -> dict[str, datetime]:
    store = DocumentStore(store_url)
    try:
        with store.engine.connect() as conn:
            rows = conn.execute(
                sa.select(job_urls.c.url, job_urls.c.updated_at).where(
                    job_urls.c.job_id == job_id, job_urls.c.state == "stored"
                )
            ).all()
        return {url: when for url, when in rows}
    finally:
        store.close()


def _check_requests(servers: list[SiteServer], committed: dict[str, datetime]) -> int:
    """Every URL asked for, none after the commit of its verdict, no host over its
    in-flight limit; returns how many pages were asked for more than once."""
    twice = 0
    for server in servers:
        assert server.peak_in_flight <= PER_HOST, f"{server.url()}: {server.peak_in_flight}"
        for path, n in server.counts().items():
            if path.startswith("/p/"):
                twice += n > 1
        for when, path in server.log:
            url = server.url(path)
            if path.startswith("/p/"):
                assert when <= committed[url].timestamp() + 0.001, f"{url} asked after commit"
    return twice


def _shard_runs(stack: PrefectStack) -> list[dict[str, Any]]:
    import httpx

    response = httpx.post(
        f"{stack.api_url}/flow_runs/filter",
        json={"flow_runs": {"tags": {"all_": ["quarry-shard"]}}, "limit": 200},
        timeout=10,
    )
    response.raise_for_status()
    runs: list[dict[str, Any]] = response.json()
    return runs


def test_a_job_fanned_out_over_two_workers(
    workers: PrefectStack, tmp_path: Path, postgres_url: str
) -> None:
    with ExitStack() as sites:
        servers = linked_hosts(sites, HOSTS, PAGES, delay=0.005)
        urls = [s.url(f"/p/{i}.html") for s in servers for i in range(PAGES)]
        started = time.monotonic()
        run_id, result = workers.run_deployment(
            "quarry-crawl/quarry-crawl",
            _params(tmp_path, postgres_url, urls, "fanned"),
            watch=True,
            timeout=900,
        )
        elapsed = time.monotonic() - started
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
        assert workers.flow_run(run_id)["state_type"] == "COMPLETED"
        committed = _committed(postgres_url, "fanned")
        assert set(committed) == set(urls)
        assert _check_requests(servers, committed) == 0, "a page asked for twice"
    shard_runs = [r for r in _shard_runs(workers) if r["parameters"]["job_id"] == "fanned"]
    assert sorted(r["parameters"]["shard"] for r in shard_runs) == list(range(SHARDS))
    assert all(r["state_type"] == "COMPLETED" for r in shard_runs)
    assert all(r["parent_task_run_id"] for r in shard_runs), "shards not under the parent"
    logs = [
        (workers.home / name).read_text(errors="replace") for name in ("worker.log", "worker1.log")
    ]
    assert all(any(r["id"] in log for r in shard_runs) for log in logs), "one worker ran no shard"
    print(
        f"{len(urls)} URLs, {SHARDS} shards, 2 workers: {elapsed:.1f} s, "
        f"{len(urls) / elapsed * 60:.0f} pages/min"
    )


def test_cancelling_the_parent_cancels_its_shards_and_a_resume_runs_only_the_rest(
    workers: PrefectStack, tmp_path: Path, postgres_url: str
) -> None:
    with ExitStack() as sites:
        # 0.1 s a page: the cancel must land mid-job; at 0.03 s a slow machine's shards
        # finished all 600 pages before the worker's cancel reached them (CI, 2026-12-04).
        servers = linked_hosts(sites, HOSTS, PAGES // 2, delay=0.1)
        urls = [s.url(f"/p/{i}.html") for s in servers for i in range(PAGES // 2)]
        params = _params(tmp_path, postgres_url, urls, "fanned-cancel")
        parent_id, _ = workers.run_deployment("quarry-crawl/quarry-crawl", params, watch=False)
        store = DocumentStore(postgres_url)
        try:
            deadline = time.monotonic() + 300
            while not (
                store.job_exists("fanned-cancel")
                and store.shards.count("fanned-cancel")
                and sum(s.held for s in store.shards.states("fanned-cancel")) >= 2
                and store.counts("fanned-cancel").processed >= 60
            ):
                assert time.monotonic() < deadline, "the shards never ran"
                time.sleep(0.2)
            cancel = workers.prefect("flow-run", "cancel", parent_id)
            assert cancel.returncode == 0, cancel.stdout + cancel.stderr
            assert workers.wait_state(parent_id, {"CANCELLED", "COMPLETED"}, 120) == "CANCELLED"
            shard_runs = [
                r["id"]
                for r in _shard_runs(workers)
                if r["parameters"]["job_id"] == "fanned-cancel"
            ]
            for run in shard_runs:
                workers.wait_state(run, {"CANCELLED", "COMPLETED", "CRASHED", "FAILED"}, 120)
            states = store.shards.states("fanned-cancel")
            assert not any(s.held for s in states), "a shard still runs after the cancel"
            left = {s.shard for s in states if s.pending}
            runs_before = {s.shard: s.runs for s in states}
        finally:
            store.close()
        assert left, "the cancel came too late: nothing left to resume"
        resume_id, result = workers.run_deployment(
            "quarry-crawl/quarry-crawl", {**params, "resume": True}, watch=True, timeout=900
        )
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
        assert workers.flow_run(resume_id)["state_type"] == "COMPLETED"
        committed = _committed(postgres_url, "fanned-cancel")
        assert set(committed) == set(urls)
        assert _check_requests(servers, committed) == 0, "a page asked for twice"
    store = DocumentStore(postgres_url)
    try:
        after = {s.shard: s.runs for s in store.shards.states("fanned-cancel")}
    finally:
        store.close()
    assert {k for k in after if after[k] > runs_before[k]} == left


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rpartition(")")[2].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _flow_runs_under(pid: int) -> dict[str, int]:
    """Flow run id -> PID of the flow-run processes a worker started."""
    runs: dict[str, int] = {}
    for child in _descendants(pid):
        try:
            environ = Path(f"/proc/{child}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        for item in environ:
            if item.startswith(b"PREFECT__FLOW_RUN_ID="):
                runs.setdefault(item.partition(b"=")[2].decode(), child)
    return runs


def test_a_worker_killed_mid_job_loses_nothing(
    workers: PrefectStack, tmp_path: Path, postgres_url: str
) -> None:
    with ExitStack() as sites:
        servers = linked_hosts(sites, HOSTS, PAGES, delay=0.02)
        urls = [s.url(f"/p/{i}.html") for s in servers for i in range(PAGES)]
        parent_id, _ = workers.run_deployment(
            "quarry-crawl/quarry-crawl",
            _params(tmp_path, postgres_url, urls, "fanned-kill"),
            watch=False,
        )
        store = DocumentStore(postgres_url)
        victim, killed_runs, deadline = None, {}, time.monotonic() + 600
        try:
            while victim is None:
                assert time.monotonic() < deadline, "no worker ran a shard"
                time.sleep(0.2)
                by_worker = {w.pid: _flow_runs_under(w.pid) for w in workers.workers}
                if not any(parent_id in runs for runs in by_worker.values()):
                    continue
                if not store.job_exists("fanned-kill") or not store.shards.count("fanned-kill"):
                    continue
                states = {s.flow_run_id: s for s in store.shards.states("fanned-kill")}
                for worker in workers.workers:
                    runs = by_worker[worker.pid]
                    mine = [states[r] for r in runs if r in states]
                    if parent_id not in runs and any(s.done > 30 and s.pending for s in mine):
                        victim, killed_runs = (
                            worker,
                            {s.shard: r for r, s in states.items() if r in runs},
                        )
            # The machine goes: the worker's process group and every flow run it started.
            doomed = _descendants(victim.pid)
            os.killpg(victim.pid, signal.SIGKILL)
            for pid in doomed:
                with suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            killed_at = time.time()
            victim.wait()
            assert (
                workers.wait_state(parent_id, {"COMPLETED", "FAILED", "CRASHED"}, 900)
                == "COMPLETED"
            )
            shards = {s.shard: s for s in store.shards.states("fanned-kill")}
        finally:
            store.close()
        committed = _committed(postgres_url, "fanned-kill")
        assert set(committed) == set(urls), "a URL not stored"
        twice = _check_requests(servers, committed)
    by_id = {r["id"]: r for r in _shard_runs(workers)}
    rerun_after = []
    for shard, old_run in killed_runs.items():
        assert shards[shard].runs >= 2, f"shard {shard} was not run again"
        assert by_id[old_run]["state_type"] == "CRASHED"
        new_run = by_id[str(shards[shard].flow_run_id)]
        assert new_run["state_type"] == "COMPLETED"
        created = datetime.fromisoformat(new_run["created"]).timestamp()
        started = datetime.fromisoformat(new_run["start_time"]).timestamp()
        assert created - killed_at < LEASE_TTL + 60
        rerun_after.append((shard, created - killed_at, started - killed_at))
    print(
        f"killed shards {sorted(killed_runs)}; new run created / running after SIGKILL: "
        + ", ".join(f"shard {k}: {c:.1f} s / {s:.1f} s" for k, c, s in rerun_after)
        + f"; pages fetched twice (in flight at the kill): {twice}"
    )
