"""A store's password and credentials in crawled URLs are never shown, raised, persisted
or sent to the Prefect API: a real `quarry` on PostgreSQL, then every place a secret could
land is read back (command output, checkpoint files, every table of the store and of the
dead letters, exported files, and the Prefect server's flow runs, logs, artifacts and
blocks)."""

from __future__ import annotations

import asyncio
import json
import secrets
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    FlowRunFilter,
    FlowRunFilterId,
    LogFilter,
    LogFilterFlowRunId,
)

from tests.e2e.jobs import quarry_env, run_quarry
from tests.support.siteserver import SiteServer, sample_site_routes


def _with_password(url: str, password: str) -> str:
    scheme, rest = url.split("://", 1)
    user, host = rest.split("@", 1)
    return f"{scheme}://{user}:{password}@{host}"


def _database_text(url: str) -> str:
    """Every row of every table of the database, as text."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            names = sa.inspect(conn).get_table_names()
            return "\n".join(
                row[0]
                for name in names
                for row in conn.execute(sa.text(f'SELECT row_to_json(t)::text FROM "{name}" t'))
            )
    finally:
        engine.dispose()


async def _prefect_text(job_id: str) -> str:
    """What the Prefect server holds of the job's flow runs: parameters, state messages,
    logs, artifacts, and every block document (secrets included)."""
    async with get_client() as client:
        runs = [
            run
            for run in await client.read_flow_runs(limit=200)
            if (run.parameters or {}).get("job_id") == job_id
        ]
        assert runs, "the crawl made no flow run on the test server"
        ids = [run.id for run in runs]
        logs: list[Any] = []
        while page := await client.read_logs(
            log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=ids)),
            limit=200,
            offset=len(logs),
        ):
            logs.extend(page)
        assert logs, "the crawl sent no logs to the test server"
        artifacts = await client.read_artifacts(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=ids))
        )
        blocks = await client.read_block_documents(include_secrets=True)
    parts: list[Any] = [
        *(run.model_dump(mode="json") for run in runs),
        *(log.model_dump(mode="json") for log in logs),
        *(artifact.model_dump(mode="json") for artifact in artifacts),
        *(block.model_dump(mode="json") for block in blocks),
    ]
    return json.dumps(parts)


def test_no_secret_is_shown_persisted_or_sent_to_prefect(tmp_path: Path, postgres_url: str) -> None:
    store_secret, letters_secret, page_secret, bad_secret = (
        f"s3cret-{name}-{secrets.token_hex(6)}" for name in ("store", "letters", "page", "bad")
    )
    # PostgreSQL here trusts 127.0.0.1: the passwords are carried, not checked.
    store_url = _with_password(postgres_url, store_secret)
    letters_url = f"{postgres_url}?password={letters_secret}"  # the query form
    env = {**quarry_env(tmp_path), "QUARRY_DEAD_LETTER_URL": letters_url}
    outputs: list[str] = []

    def quarry(*args: str) -> int:
        done = run_quarry(list(args), tmp_path, env)
        outputs.append(done.stdout + done.stderr)
        return done.returncode

    with SiteServer(sample_site_routes()) as site:
        articles = sorted(p for p in site.routes if p.startswith("/articles/"))[:3]
        with_userinfo = site.url(articles[1]).replace("://", f"://reader:{page_secret}@")
        urls = [
            site.url(articles[0]),
            with_userinfo,
            site.url(articles[2]),
            site.url("/missing"),
            f"http://reader:{bad_secret}@[::1",  # malformed: a dead letter
        ]
        code = quarry(
            "crawl", *urls, "--job-id", "sec", "--db", store_url, "--allow-private-networks"
        )
        assert code == 0, outputs[-1][-3000:]
        assert site.count(articles[1]) == 1  # fetched, without its credentials
    assert quarry("status", "--job-id", "sec", "--db", store_url) == 0
    assert quarry("status", "--job-id", "nope", "--db", store_url) == 2
    assert quarry("export", "--job-id", "sec", "--db", store_url, "--out", "docs.jsonl") == 0
    assert quarry("dead-letters", "list", "--dead-letter-db", letters_url) == 0
    assert (
        quarry("dead-letters", "export", "--dead-letter-db", letters_url, "--out", "dl.jsonl") == 0
    )
    # A store that cannot be reached, and a malformed one: errors name it, masked.
    unreachable = _with_password("postgresql+psycopg://postgres@127.0.0.1:1/none", store_secret)
    assert quarry("status", "--job-id", "sec", "--db", unreachable) == 2
    assert quarry("crawl", site.url("/x"), "--db", unreachable.replace(":1/", ":port/")) == 2

    exported = (tmp_path / "docs.jsonl").read_text()
    assert len(exported.splitlines()) == 3
    assert f"reader:{page_secret}" not in exported and site.url(articles[1]) in exported
    letters = _database_text(postgres_url)
    assert "/missing" in letters and "[::1" in letters  # the failures are there
    places = {
        "command output": "\n".join(outputs),
        "checkpoint files": "\n".join(p.read_text() for p in (tmp_path / "checkpoints").iterdir()),
        "store and dead-letter tables": letters,
        "exported files": exported + (tmp_path / "dl.jsonl").read_text(),
        "Prefect API": asyncio.run(_prefect_text("sec")),
    }
    for place, text in places.items():
        for secret in (store_secret, letters_secret, page_secret, bad_secret):
            assert secret not in text, f"{secret} in {place}"
    assert "***" in places["command output"]  # the store is named, its password hidden
