"""The `quarry` command as a user runs it: a real process, a real site, real files."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
from prefect.settings import PREFECT_API_URL

from tests.support.siteserver import SiteServer, sample_site_routes


def _env() -> dict[str, str]:
    # Talk to the session's test server instead of starting a temporary one per command.
    return {
        **os.environ,
        "PREFECT_API_URL": str(PREFECT_API_URL.value()),
        "QUARRY_EXTRACT_WORKERS": "2",
    }


def _quarry(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "quarrycore.cli", *args],
        cwd=cwd,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_crawl_the_sample_site_then_export_jsonl_and_parquet(tmp_path: Path) -> None:
    with SiteServer(sample_site_routes()) as site:
        urls = [site.url(p) for p in site.routes if p.startswith("/articles/")]
        (tmp_path / "urls.txt").write_text("# sample\n" + "\n".join(urls) + "\n\n")
        crawl = _quarry(
            "crawl", "--urls-file", "urls.txt", "--job-id", "cli-job", "--markdown", cwd=tmp_path
        )
        assert crawl.returncode == 0, crawl.stderr[-3000:]
        assert "completed" in crawl.stdout
        assert all(site.count(p) == 1 for p in site.routes if p.startswith("/articles/"))

    # Defaults: the store is quarry.db in the working directory.
    assert (tmp_path / "quarry.db").exists()
    status = _quarry("status", "--job-id", "cli-job", "--json", cwd=tmp_path)
    assert json.loads(status.stdout)[0]["stored"] == len(urls)

    for fmt in ("jsonl", "parquet"):
        out = tmp_path / f"docs.{fmt}"
        export = _quarry(
            "export", "--format", fmt, "--out", str(out), "--job-id", "cli-job", cwd=tmp_path
        )
        assert export.returncode == 0, export.stderr
    assert len((tmp_path / "docs.jsonl").read_text().splitlines()) == len(urls)
    table = pq.read_table(tmp_path / "docs.parquet")
    assert table.num_rows == len(urls)
    assert all(text for text in table.column("text").to_pylist())
    # --markdown: each document also as Markdown, the same words with structure marked.
    texts, markdowns = table.column("text").to_pylist(), table.column("markdown").to_pylist()
    for text, md in zip(texts, markdowns, strict=True):
        words = set(re.findall(r"\w+", text))
        assert md and len(words & set(re.findall(r"\w+", md))) >= 0.9 * len(words)
    assert any(re.search(r"^#+ ", md, re.M) for md in markdowns)


def test_failed_urls_finish_the_job_and_an_unknown_job_is_an_error(tmp_path: Path) -> None:
    with SiteServer({}) as site:  # every URL 404s: failed, but the job finishes
        crawl = _quarry("crawl", site.url("/a"), "--job-id", "j404", cwd=tmp_path)
    assert crawl.returncode == 0, crawl.stderr[-2000:]
    unreachable = _quarry("status", "--job-id", "nope", cwd=tmp_path)
    assert unreachable.returncode == 2 and "no job 'nope'" in unreachable.stderr


def test_export_versions_and_changes_since_a_date(tmp_path: Path) -> None:
    """`quarry export --versions all` gives a page's history, `--changed-since` only what
    was stored (or found gone) since then."""
    from datetime import UTC, datetime, timedelta

    from quarrycore.store import DocumentStore
    from tests.unit.test_store import doc

    db = f"sqlite:///{tmp_path / 'q.db'}"
    store = DocumentStore(db)
    store.start_job("v", {})
    store.add_urls("v", ["http://x/a", "http://x/b"])
    store.commit_batch("v", [doc("http://x/a", "first"), doc("http://x/b", "steady")], [])
    between = datetime.now(UTC)
    cutoff, _ = store.begin_recrawl("v", datetime.now(UTC) + timedelta(seconds=5))
    store.make_due("v", cutoff, 0, 100)
    store.commit_batch("v", [doc("http://x/a", "second"), doc("http://x/b", "steady")], [])
    store.close()

    def export(*extra: str) -> list[dict[str, object]]:
        out = tmp_path / "out.jsonl"
        done = _quarry(
            "export", "--db", db, "--job-id", "v", "--out", str(out), *extra, cwd=tmp_path
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return [json.loads(line) for line in out.read_text().splitlines()]

    assert sorted((r["url"], r["version"]) for r in export()) == [
        ("http://x/a", 2),
        ("http://x/b", 1),
    ]
    history = sorted((r["url"], r["version"]) for r in export("--versions", "all"))
    assert history == [("http://x/a", 1), ("http://x/a", 2), ("http://x/b", 1)]
    since = between.strftime("%Y-%m-%dT%H:%M:%S.%f")
    assert [(r["url"], r["text"]) for r in export("--changed-since", since)] == [
        ("http://x/a", "second")
    ]
    bad = _quarry(
        "export", "--db", db, "--out", str(tmp_path / "x"), "--versions", "some", cwd=tmp_path
    )
    assert bad.returncode != 0 and "latest or all" in bad.stdout + bad.stderr
