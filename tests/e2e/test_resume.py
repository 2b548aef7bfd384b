"""Checkpoint and resume for real: real processes, real signals, a real HTTP server,
a real SQLite store; counts taken from the store and the server's request log."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from quarrycore.checkpoint import CheckpointFile, PipelineCheckpoint, read_checkpoint
from quarrycore.deadletters import DeadLetterFilter, DeadLetterStore
from quarrycore.store import DocumentStore, JobCounts
from tests.e2e.jobs import (
    numbered_site,
    quarry_env,
    run_quarry,
    start_quarry,
    wait_for_processed,
)
from tests.support.siteserver import Response, html_page
from tests.support.warcs import check_archive, responses


def _checkpoint(job_id: str, processed: int) -> PipelineCheckpoint:
    counts = JobCounts(job_id=job_id, pending=5, stored=processed)
    return PipelineCheckpoint.from_counts(
        counts,
        stage="running",
        pipeline_id=None,
        start_time=datetime.now(UTC),
        batch_size=10,
        database_url="sqlite:///x.db",
        urls_remaining=[f"u{i}" for i in range(5)],
    )


def test_checkpoint_atomic_saving(tmp_path: Path) -> None:
    """A writer killed between writing the temporary file and renaming it leaves the
    previous checkpoint whole."""
    files = CheckpointFile(tmp_path)
    files.write(_checkpoint("atomic", processed=1))
    script = textwrap.dedent(f"""
        import os, signal
        from datetime import UTC, datetime
        from pathlib import Path
        from quarrycore.checkpoint import CheckpointFile, PipelineCheckpoint
        from quarrycore.store import JobCounts
        def die(*args):  # the crash: after write + fsync, before the rename
            os.kill(os.getpid(), signal.SIGKILL)
        os.replace = die
        cp = PipelineCheckpoint.from_counts(
            JobCounts(job_id="atomic", pending=0, stored=2), stage="completed",
            pipeline_id=None, start_time=datetime.now(UTC), batch_size=10,
            database_url="sqlite:///x.db", urls_remaining=[])
        CheckpointFile(Path({str(tmp_path)!r})).write(cp)
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=60)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert [p.name for p in tmp_path.glob(".atomic.*.tmp")], "the killed write left no temp file"
    survivor = files.read("atomic")
    assert survivor is not None and survivor.processed_count == 1
    assert survivor.urls_remaining == [f"u{i}" for i in range(5)]


def test_a_failed_write_keeps_the_old_checkpoint_and_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = CheckpointFile(tmp_path)
    files.write(_checkpoint("j", processed=1))

    def full_disk(*args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(OSError, match="No space"):
        files.write(_checkpoint("j", processed=2))
    monkeypatch.undo()
    kept = files.read("j")
    assert kept is not None
    assert kept.processed_count == 1
    assert list(tmp_path.glob("*.tmp")) == list(tmp_path.glob(".*.tmp")) == []


@pytest.mark.parametrize("how", ["sigint-to-group", "sigterm-to-process"])
def test_signal_handling(how: str, tmp_path: Path) -> None:
    """Ctrl-C (SIGINT to the whole group, Prefect's temporary server started by the CLI)
    or SIGTERM to the process: in-flight work is committed, the checkpoint saved, the
    exit code says so, and a resume finishes with every URL stored and fetched once."""
    db = f"sqlite:///{tmp_path / 'quarry.db'}"
    site = numbered_site(160, delay=0.08)
    with site:
        urls_file = tmp_path / "urls.txt"
        urls_file.write_text("\n".join(site.urls))
        env = quarry_env(tmp_path, prefect_api=how != "sigint-to-group")
        args = [
            "crawl",
            "--urls-file",
            str(urls_file),
            "--job-id",
            "sig",
            "--db",
            db,
            "--batch-size",
            "10",
            "--concurrency",
            "4",
            "--no-progress",
        ]
        proc = start_quarry(args, tmp_path, env)
        wait_for_processed(db, "sig", 20, timeout=180, proc=proc)
        if how == "sigint-to-group":
            os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does
        else:
            os.kill(proc.pid, signal.SIGTERM)
        output, _ = proc.communicate(timeout=120)
        expected_rc = 130 if how == "sigint-to-group" else -signal.SIGTERM
        assert proc.returncode == expected_rc, output[-3000:]
        assert "resume with" in output

        store = DocumentStore(db)
        counts = store.counts("sig")
        assert 0 < counts.processed < 160 and counts.pending > 0
        checkpoint = read_checkpoint(tmp_path / "checkpoints" / "sig.json")
        assert checkpoint.stage == "interrupted"
        assert (checkpoint.processed_count, checkpoint.pending_count) == (
            counts.processed,
            counts.pending,
        )
        pending = [u for u, (state, _) in store.url_states("sig").items() if state == "pending"]
        assert sorted(checkpoint.urls_remaining) == sorted(pending)
        assert checkpoint.urls_remaining_complete

        if how == "sigterm-to-process":
            # Resume on a "machine" without the file: the Prefect Block has the checkpoint.
            (tmp_path / "checkpoints" / "sig.json").unlink()
        resumed = run_quarry(
            ["crawl", "--resume", "sig", "--db", db, "--no-progress"], tmp_path, env
        )
        assert resumed.returncode == 0, (resumed.stdout + resumed.stderr)[-3000:]
        assert "resuming from a interrupted checkpoint" in resumed.stdout + resumed.stderr

        final = store.counts("sig")
        assert (final.stored, final.failed, final.pending) == (160, 0, 0)
        assert len(list(store.iter_documents("sig"))) == 160
        # In-flight batches were committed before exiting: nothing was fetched twice.
        requests = site.counts()
        assert requests.pop("/robots.txt") >= 1  # asked once per run
        assert {urlsplit(u).path for u in site.urls} == set(requests)
        assert max(requests.values()) == 1, requests.most_common(3)
        assert read_checkpoint(tmp_path / "checkpoints" / "sig.json").stage == "completed"


def _kill_resume_loop(
    tmp_path: Path,
    *,
    kills: int,
    pages: int,
    missing: int,
    reextract: bool = False,
    db: str | None = None,
) -> DocumentStore:
    db = db or f"sqlite:///{tmp_path / 'quarry.db'}"
    site = numbered_site(pages, missing=missing, delay=0.01)
    rng = random.Random(20261128)
    with site:
        urls_file = tmp_path / "urls.txt"
        urls_file.write_text("\n".join(site.urls))
        env = quarry_env(tmp_path)
        args = [
            "crawl",
            "--urls-file",
            str(urls_file),
            "--job-id",
            "k9",
            "--db",
            db,
            "--batch-size",
            "25",
            "--concurrency",
            "8",
            "--no-progress",
        ]
        done, killed = 0, 0
        while killed < kills:
            proc = start_quarry(args, tmp_path, env)
            # Kill at a random moment after the run has committed something new.
            target = done + rng.randint(1, 3 * 25)
            try:
                done = wait_for_processed(
                    db, "k9", min(target, pages + missing - 1), timeout=120, proc=proc
                )
            except AssertionError:
                proc.kill()
                raise
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
            killed += 1
        final = run_quarry(args, tmp_path, env)
        assert final.returncode == 0, (final.stdout + final.stderr)[-3000:]
        log = list(site.log)
        if reextract:
            _reextract_killed_once(tmp_path, DocumentStore(db))
            assert len(site.log) == len(log)  # not one request to the site

    store = DocumentStore(db)
    states = store.url_states("k9")
    assert len(states) == pages + missing
    assert sum(state == "stored" for state, _ in states.values()) == pages
    assert [e for s, e in states.values() if s == "failed"] == ["HTTPStatus"] * missing
    docs = list(store.iter_documents("k9"))
    assert len(docs) == len({d["url"] for d in docs}) == pages  # no duplicates
    # No URL was fetched again after its document was committed.
    committed = {
        urlsplit(d["url"]).path: d["stored_at"].replace(tzinfo=UTC).timestamp() for d in docs
    }
    late = [(path, when) for when, path in log if path in committed and when > committed[path]]
    assert late == []
    # dead_letter.db agrees with the store: the failed URLs, and no stored URL, are open.
    open_rows = list(
        DeadLetterStore("sqlite:///dead_letter.db").rows(DeadLetterFilter(job_id="k9"))
    )
    assert sorted(r["url"] for r in open_rows) == sorted(
        u for u, (s, _) in states.items() if s == "failed"
    )
    # The WARC archive: every stored page points at its own response record, in files
    # warcio reads; the killed runs' unreferenced tails are never pointed at.
    warc_dir = tmp_path / "data" / "warc"
    refs = check_archive(store, "k9", warc_dir)
    archived = responses(warc_dir)
    assert all(archived[refs[d["url"]]] == d["final_url"] for d in docs)
    assert len(list(warc_dir.rglob("*.warc.gz"))) > kills  # a file of each run's own
    return store


def _reextract_killed_once(tmp_path: Path, store: DocumentStore) -> None:
    """Re-extract the crawled job k9, SIGKILL it half-way, run it again: the same
    verdicts and texts as the crawl, not one request to the site."""
    db = store.url
    before = store.url_states("k9")
    hashes = {d["url"]: d["content_hash"] for d in store.iter_documents("k9", which="all")}
    args = ["reextract", "--job-id", "k9", "--db", db, "--batch-size", "25", "--no-progress"]
    env = quarry_env(tmp_path)
    proc = start_quarry(args, tmp_path, env)
    deadline = time.monotonic() + 120
    while True:  # until the re-extraction has committed some batches, not all
        assert time.monotonic() < deadline and proc.poll() is None, "reextract ended early"
        counts = store.counts("k9")
        if 50 <= counts.stored <= len(hashes) - 100 and counts.pending > 0:
            break
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert store.counts("k9").pending > 0  # stopped half-way
    again = run_quarry(args, tmp_path, env)
    assert again.returncode == 0, (again.stdout + again.stderr)[-3000:]
    assert store.url_states("k9") == before
    rehashed = {d["url"]: d["content_hash"] for d in store.iter_documents("k9", which="all")}
    assert rehashed == hashes
    assert len(rehashed) == sum(1 for s, _ in before.values() if s in ("stored", "filtered"))
    store.close()


def test_pipeline_checkpoint_resume_e2e(tmp_path: Path) -> None:
    """1,000 URLs, SIGKILL at random moments 10 times, resumed until complete; then
    re-extracted from the archive, killed once half-way and resumed."""
    _kill_resume_loop(tmp_path, kills=10, pages=990, missing=10, reextract=True)


@pytest.mark.postgres
def test_kill_resume_on_postgresql(tmp_path: Path, postgres_url: str) -> None:
    """The same on a PostgreSQL store: 500 URLs, SIGKILL 5 times, resumed until complete."""
    _kill_resume_loop(tmp_path, kills=5, pages=490, missing=10, db=postgres_url)


@pytest.mark.slow
def test_pipeline_checkpoint_resume_e2e_many_kills(tmp_path: Path) -> None:
    _kill_resume_loop(tmp_path, kills=40, pages=2990, missing=10)


def test_dead_letter_integration(tmp_path: Path) -> None:
    """Failures of a job killed twice and resumed are each one dead letter; a flaky URL
    that failed is replayed with `quarry dead-letters retry` and its row resolved; no
    URL is ever both stored and an open dead letter."""
    db = f"sqlite:///{tmp_path / 'quarry.db'}"
    site = numbered_site(200, missing=15, delay=0.01)
    flaky = {"down": True}

    def unstable(n: int) -> Callable[[int], Response]:
        def handler(hits: int) -> Response:
            if flaky["down"]:
                return Response(503, b"<html><body>busy</body></html>")
            text = f"Service {n} is back online. " * 9  # its own text: not a duplicate
            return Response(200, html_page(f"Back {n}", f"<p>{text}</p>"))

        return handler

    for i in range(5):
        site.routes[f"/unstable/{i}"] = unstable(i)
    urls = site.urls + [site.url(f"/unstable/{i}") for i in range(5)]
    with site:
        (tmp_path / "urls.txt").write_text("\n".join(urls))
        env = quarry_env(tmp_path)
        args = [
            "crawl",
            "--urls-file",
            "urls.txt",
            "--job-id",
            "dl",
            "--db",
            db,
            "--batch-size",
            "20",
            "--concurrency",
            "8",
            "--no-progress",
        ]
        for target in (40, 120):
            proc = start_quarry(args, tmp_path, env)
            wait_for_processed(db, "dl", target, timeout=120, proc=proc)
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
        final = run_quarry(args, tmp_path, env)
        assert final.returncode == 0, (final.stdout + final.stderr)[-3000:]

        dead_letters = DeadLetterStore("sqlite:///dead_letter.db")
        rows = list(dead_letters.rows(DeadLetterFilter(job_id="dl")))
        failed = {u for u, (s, _) in DocumentStore(db).url_states("dl").items() if s == "failed"}
        assert sorted(r["url"] for r in rows) == sorted(failed)
        assert len(rows) == 20  # 15 x 404 (permanent), 5 x 503 (retryable)
        assert sum(r["retryable"] for r in rows) == 5

        flaky["down"] = False
        stats = run_quarry(["dead-letters", "stats", "--job-id", "dl", "--json"], tmp_path, env)
        assert {
            (r["error_type"], r["retryable"], r["count"]) for r in json.loads(stats.stdout)
        } == {("HTTPStatus", False, 15), ("HTTPStatus", True, 5)}
        retry = run_quarry(
            ["dead-letters", "retry", "--job-id", "dl", "--now", "--db", db], tmp_path, env
        )
        assert retry.returncode == 0, (retry.stdout + retry.stderr)[-3000:]

    states = DocumentStore(db).url_states("dl")
    stored = {u for u, (s, _) in states.items() if s == "stored"}
    assert len(stored) == 205 and all(site.url(f"/unstable/{i}") in stored for i in range(5))
    open_rows = list(dead_letters.rows(DeadLetterFilter(job_id="dl")))
    assert len(open_rows) == 15 and not {r["url"] for r in open_rows} & stored


def test_bad_checkpoints_are_clear_errors_and_left_untouched(tmp_path: Path) -> None:
    env = quarry_env(tmp_path)
    checkpoints = tmp_path / "checkpoints"
    checkpoints.mkdir()
    corrupt = checkpoints / "broken.json"
    corrupt.write_bytes(b'{"schema_version": 1, "job_id": "broken", "stage": "runn')
    other = checkpoints / "future.json"
    other.write_text(json.dumps({"schema_version": 99, "job_id": "future"}))
    cases = [
        (["--resume", "broken"], "is not valid JSON", corrupt),
        (["--resume", "future"], "schema version 99", other),
        (["--resume", "../../etc/passwd"], "invalid job id", None),
        (["--resume", "never-ran"], "nothing to resume", None),
    ]
    for args, message, path in cases:
        before = path.read_bytes() if path else None
        result = run_quarry(["crawl", *args, "--no-progress"], tmp_path, env)
        assert result.returncode == 2, result.stdout + result.stderr
        assert message in result.stderr, result.stderr
        assert "Traceback" not in result.stderr
        if path is not None:
            assert path.read_bytes() == before
