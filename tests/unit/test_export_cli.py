"""Export formats and the command line's handling of bad input (no Prefect needed)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from quarrycore.cli.app import app
from quarrycore.records import Document
from quarrycore.store import DocumentStore
from quarrycore.store.export import export_documents

runner = CliRunner()


@pytest.fixture
def filled_store(tmp_path: Path) -> DocumentStore:
    store = DocumentStore(f"sqlite:///{tmp_path / 's.db'}")
    for job in ("a", "b"):
        store.start_job(job, {})
        urls = [f"http://x/{job}/{i}" for i in range(3)]
        store.add_urls(job, urls)
        store.commit_batch(
            job,
            [
                Document(
                    url=u,
                    final_url=u,
                    status_code=200,
                    fetched_at=datetime.now(UTC),
                    text=f"text of {u}",
                    content_hash=f"{u:0>64}"[-64:],
                    word_count=4,
                    title="t",
                    date="2024-01-02",
                    language="en",
                    language_score=0.9,
                )
                for u in urls
            ],
            [],
        )
    return store


@pytest.mark.parametrize("job", [None, "a"])
def test_jsonl_and_parquet_hold_every_document(
    filled_store: DocumentStore, tmp_path: Path, job: str | None
) -> None:
    expected = 3 if job else 6
    n = export_documents(filled_store, tmp_path / "out.jsonl", fmt="jsonl", job_id=job)
    rows = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert n == len(rows) == expected
    assert {
        "url",
        "text",
        "title",
        "date",
        "language",
        "fetched_at",
        "content_hash",
        "job_id",
        "id",
    } <= set(rows[0])
    n = export_documents(filled_store, tmp_path / "out.parquet", fmt="parquet", job_id=job)
    table = pq.read_table(tmp_path / "out.parquet")
    assert n == table.num_rows == expected
    assert sorted(table.column("url").to_pylist()) == sorted(r["url"] for r in rows)
    assert len(set(table.column("id").to_pylist())) == expected


def test_cli_export_and_status(filled_store: DocumentStore, tmp_path: Path) -> None:
    db = filled_store.url
    out = tmp_path / "o.parquet"
    result = runner.invoke(
        app, ["export", "--format", "parquet", "--out", str(out), "--db", db, "--job-id", "b"]
    )
    assert result.exit_code == 0, result.output
    assert pq.read_table(out).num_rows == 3
    result = runner.invoke(app, ["status", "--db", db, "--json"])
    assert result.exit_code == 0
    assert [(r["job_id"], r["stored"]) for r in json.loads(result.output)] == [("a", 3), ("b", 3)]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["crawl"], "no URLs given"),
        (["crawl", "--urls-file", "/nonexistent/urls.txt"], "URL file not found"),
        (["crawl", "http://x/", "--db", "not a url"], "malformed database URL"),
        (["crawl", "http://x/", "--job-id", "../../etc"], "invalid job id"),
        (["crawl", "http://x/", "--batch-size", "0"], "invalid setting"),
        (["export", "--out", "x", "--format", "csv"], "unknown format"),
    ],
)
def test_bad_input_is_one_clear_line(args: list[str], message: str) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output
