"""One job fanned out into shards run as local processes (a run without a deployment):
split by host, every URL stored once, no host asked by two shards at once, links that
lead to another shard's host crawled by that shard, a SIGKILLed shard run again by the
parent, on SQLite and on PostgreSQL."""

from __future__ import annotations

import json
import os
import signal
import time
from collections import Counter
from contextlib import ExitStack
from pathlib import Path

import pytest
import sqlalchemy as sa

from quarrycore.flows.crawl import quarry_crawl
from quarrycore.store import DocumentStore
from quarrycore.store.schema import job_hosts, job_shards, job_urls
from tests.e2e.jobs import PAGE_TEXT, quarry_env, run_quarry
from tests.support.siteserver import Response, SiteServer, html_page

HTML = {"Content-Type": "text/html; charset=utf-8"}


def linked_hosts(
    stack: ExitStack, hosts: int, pages: int, *, delay: float = 0.0
) -> list[SiteServer]:
    """``hosts`` servers (each its own host:port), each with ``pages`` pages and an
    index listing them; page i also links to page i+1 of the next host."""
    servers = [SiteServer(delay=delay) for _ in range(hosts)]
    for h, server in enumerate(servers):
        following = servers[(h + 1) % hosts]
        index = "".join(f'<a href="/p/{i}.html">page {i}</a> ' for i in range(pages))
        server.routes["/"] = Response(200, html_page(f"Host {h}", f"<nav>{index}</nav>"), HTML)
        for i in range(pages):
            text = PAGE_TEXT.format(i=f"{h}-{i}") * 3
            nxt = following.url(f"/p/{(i + 1) % pages}.html")
            link = f'<a href="{nxt}">next host</a>'
            server.routes[f"/p/{i}.html"] = Response(
                200, html_page(f"Host {h} page {i}", text + link), HTML
            )
        stack.enter_context(server)
    return servers


def _options() -> dict[str, object]:
    return {"per_host_concurrency": 2, "job_lock_ttl": 10, "shard_poll_interval": 0.5}


def test_fan_out_into_local_processes_stores_every_url_once(store_url: str) -> None:
    with ExitStack() as stack:
        servers = linked_hosts(stack, hosts=5, pages=40)
        # Half of each host's pages are inputs; the rest only reachable by links, most
        # of them from another host (another shard's).
        urls = [s.url(f"/p/{i}.html") for s in servers for i in range(0, 40, 2)]
        result = quarry_crawl(
            urls=urls,
            job_id="fan",
            database_url=store_url,
            shards=3,
            max_depth=1,
            same_host=False,
            allow_domains=["127.0.0.1"],
            options=_options(),
        )
        assert result.state == "completed"
        assert result.stored_count == 5 * 40
        for server in servers:
            counts = server.counts()
            assert set(counts) == {f"/p/{i}.html" for i in range(40)} | {"/robots.txt"}
            # robots.txt: once a run of the shard (a shard runs again for links found later)
            assert max(n for path, n in counts.items() if path != "/robots.txt") == 1
            assert server.peak_in_flight <= 2
    store = DocumentStore(store_url)
    try:
        with store.engine.connect() as conn:
            hosts_per_shard = conn.execute(
                sa.select(job_hosts.c.host, sa.func.count())
                .where(job_hosts.c.job_id == "fan")
                .group_by(job_hosts.c.host)
            ).all()
            statuses = conn.execute(
                sa.select(job_shards.c.shard, job_shards.c.status).where(
                    job_shards.c.job_id == "fan"
                )
            ).all()
        assert len(hosts_per_shard) == 5  # every host has its shard
        assert sorted(statuses) == [(0, "completed"), (1, "completed"), (2, "completed")]
        states = store.shards.states("fan")
        assert sum(s.done for s in states) == 200 and all(s.pending == 0 for s in states)
    finally:
        store.close()
    checkpoint = json.loads(Path("checkpoints/fan.json").read_text())
    assert checkpoint["shards_done"] == [0, 1, 2]
    assert checkpoint["stored_count"] == 200 and checkpoint["pending_count"] == 0
    for k in range(3):
        shard = json.loads(Path(f"checkpoints/fan.shard-{k}.json").read_text())
        assert shard["shard"] == k and shard["pending_count"] == 0


@pytest.mark.postgres
def test_a_killed_shard_process_is_run_again_by_the_parent(postgres_url: str) -> None:
    """SIGKILL one shard's process mid-job: the parent starts the shard again; every page
    stored once, and no page asked for again after the commit that gave its verdict."""
    import threading

    with ExitStack() as stack:
        servers = linked_hosts(stack, hosts=4, pages=60, delay=0.02)
        urls = [s.url(f"/p/{i}.html") for s in servers for i in range(60)]
        killed: list[int] = []

        def kill_one() -> None:
            store = DocumentStore(postgres_url)
            deadline = time.monotonic() + 120
            try:
                while time.monotonic() < deadline and not killed:
                    if store.job_exists("fan-kill") and store.shards.count("fan-kill"):
                        for shard in store.shards.states("fan-kill"):
                            run = shard.flow_run_id or ""
                            if run.startswith("pid-") and shard.held and shard.done > 5:
                                os.kill(int(run.removeprefix("pid-")), signal.SIGKILL)
                                killed.append(shard.shard)
                                return
                    time.sleep(0.05)
            finally:
                store.close()

        killer = threading.Thread(target=kill_one)
        killer.start()
        result = quarry_crawl(
            urls=urls,
            job_id="fan-kill",
            database_url=postgres_url,
            shards=2,
            batch_size=10,
            options=_options(),
        )
        killer.join()
        assert killed, "no shard was killed"
        assert result.state == "completed" and result.stored_count == 240
        store = DocumentStore(postgres_url)
        try:
            states = {s.shard: s for s in store.shards.states("fan-kill")}
            assert states[killed[0]].runs >= 2, "the killed shard was not run again"
            with store.engine.connect() as conn:
                committed = dict(
                    conn.execute(
                        sa.select(job_urls.c.url, job_urls.c.updated_at).where(
                            job_urls.c.job_id == "fan-kill"
                        )
                    ).all()
                )
        finally:
            store.close()
        asked: Counter[str] = Counter()
        for server in servers:
            for when, path in server.log:
                url = server.url(path)
                if url in committed:
                    asked[url] += 1
                    assert when <= committed[url].timestamp() + 0.001, f"{url} asked after commit"
        assert set(asked) == set(urls)


def test_quarry_crawl_with_shards_from_the_command_line(tmp_path: Path) -> None:
    with ExitStack() as stack:
        servers = linked_hosts(stack, hosts=3, pages=10)
        urls = [s.url(f"/p/{i}.html") for s in servers for i in range(10)]
        db = f"sqlite:///{tmp_path / 'cli.db'}"
        args = ["crawl", *urls, "--job-id", "cli-fan", "--db", db, "--shards", "2"]
        result = run_quarry([*args, "--no-progress"], tmp_path, quarry_env(tmp_path))
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        bad = run_quarry(
            ["crawl", "--warc", "x.warc", "--shards", "2"], tmp_path, quarry_env(tmp_path)
        )
        assert (
            bad.returncode != 0 and "fan-out splits a crawl of the web" in bad.stdout + bad.stderr
        )
    shown = run_quarry(
        ["status", "--job-id", "cli-fan", "--db", db], tmp_path, quarry_env(tmp_path)
    )
    assert "cli-fan: shard 0:" in shown.stdout and "cli-fan: shard 1:" in shown.stdout
    store = DocumentStore(db)
    try:
        assert store.counts("cli-fan").stored == 30
        assert [s.status for s in store.shards.states("cli-fan")] == ["completed", "completed"]
    finally:
        store.close()


def test_a_stopped_fan_out_resumes_only_its_unfinished_shards(tmp_path: Path) -> None:
    """SIGTERM to the parent (what a Prefect cancellation sends): it stops its shards,
    each commits what is in flight; the resume starts only shards with pending URLs,
    and every page is fetched once."""
    from tests.e2e.jobs import start_quarry, wait_for_processed

    with ExitStack() as stack:
        servers = linked_hosts(stack, hosts=3, pages=60, delay=0.03)
        urls_file = tmp_path / "urls.txt"
        urls_file.write_text("\n".join(s.url(f"/p/{i}.html") for s in servers for i in range(60)))
        db = f"sqlite:///{tmp_path / 'stop.db'}"
        args = ["crawl", "--urls-file", str(urls_file), "--job-id", "stop", "--db", db]
        args += ["--shards", "3", "--batch-size", "10", "--no-progress"]
        env = quarry_env(tmp_path)
        parent = start_quarry(args, tmp_path, env)
        wait_for_processed(db, "stop", 30, timeout=120, proc=parent)
        parent.send_signal(signal.SIGTERM)  # the parent alone: it stops its shards
        output, _ = parent.communicate(timeout=120)
        assert parent.returncode != 0 and "resume with" in output, output[-3000:]
        store = DocumentStore(db)
        try:
            states = store.shards.states("stop")
            assert all(not s.held for s in states), "a shard still runs after the stop"
            stopped = {s.shard for s in states if s.pending}
            runs_before = {s.shard: s.runs for s in states}
        finally:
            store.close()
        assert stopped, "the stop came too late: nothing left to resume"
        resume = run_quarry(  # no --shards: a job fanned out stays so
            ["crawl", "--resume", "stop", "--db", db, "--no-progress"],
            tmp_path,
            env,
        )
        assert resume.returncode == 0, resume.stdout[-3000:] + resume.stderr[-3000:]
        for server in servers:
            pages = {p: n for p, n in server.counts().items() if p.startswith("/p/")}
            assert len(pages) == 60 and max(pages.values()) == 1
    store = DocumentStore(db)
    try:
        assert store.counts("stop").stored == 180
        after = {s.shard: s.runs for s in store.shards.states("stop")}
        assert {k for k in after if after[k] > runs_before[k]} == stopped
    finally:
        store.close()
