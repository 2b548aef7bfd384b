"""Archived crawls in: WARC files written as a crawler writes them (gzip per record, one
uncompressed, one cut short) go through the same pipeline as a live crawl: every
response record ends stored, filtered, duplicate or failed with its reason, with the
same text a live crawl of the same pages gives, and not one request is made."""

from __future__ import annotations

import json
import os
import random
import signal
from pathlib import Path

from quarrycore.checkpoint import read_checkpoint
from quarrycore.deadletters import DeadLetterFilter, DeadLetterStore
from quarrycore.flows.crawl import quarry_crawl
from quarrycore.store import DocumentStore
from tests.conftest import load_benchmark
from tests.e2e.jobs import quarry_env, run_quarry, start_quarry, wait_for_processed
from tests.support.docsite import docsite_pages
from tests.support.siteserver import Response, SiteServer
from tests.support.warcfiles import cut, write_warc

VERDICTS = {"stored", "filtered", "duplicate", "failed"}


def _options(tmp_path: Path) -> dict[str, object]:
    return {
        "allow_private_networks": True,
        "per_host_delay": 0,
        "per_host_concurrency": 16,
        "data_dir": str(tmp_path / "data"),
        "dead_letter_url": f"sqlite:///{tmp_path / 'dead_letter.db'}",
        "quality": {"enabled": True},
    }


def test_warc_records_are_stored_as_a_live_crawl_stores_them(tmp_path: Path) -> None:
    bench = {f"/b/{name}": html for name, (html, _) in load_benchmark().items()}
    docs = {f"/d/{i}": html for i, html in enumerate(docsite_pages(360).values()) if i % 3 == 0}
    pages = {**bench, **docs}
    archive = "http://archive.test"
    odd = {
        f"{archive}/moved": ("301 Moved Permanently", [("Location", "/b/x")], b""),
        f"{archive}/missing": ("404 Not Found", [("Content-Type", "text/html")], b"gone"),
        f"{archive}/logo.png": ("200 OK", [("Content-Type", "image/png")], b"\x89PNG\r\n\x1a\n"),
    }
    first = write_warc(
        tmp_path / "bench.warc.gz", {archive + p: bench[p] for p in bench}, extra=odd
    )
    second = write_warc(tmp_path / "docs.warc", {archive + p: docs[p] for p in docs}, gzip=False)
    torn_pages = {f"{archive}/t/{i}": html for i, html in enumerate(list(bench.values())[:5])}
    torn = cut(write_warc(tmp_path / "torn.warc.gz", torn_pages), 300)

    db = f"sqlite:///{tmp_path / 'store.db'}"
    result = quarry_crawl(
        job_id="archived",
        database_url=db,
        warc_files=[str(first), str(second), str(torn)],
        options=_options(tmp_path),
    )
    store = DocumentStore(db)
    states = store.url_states("archived")
    records = [archive + p for p in pages] + list(odd) + list(torn_pages)[:-1]
    assert set(records) <= set(states)
    assert {state for state, _ in states.values()} <= VERDICTS
    assert result.state == "completed" and result.pending_count == 0
    assert states[f"{archive}/moved"] == ("failed", "HTTPStatus")
    assert states[f"{archive}/missing"] == ("failed", "HTTPStatus")
    assert states[f"{archive}/logo.png"] == ("failed", "NotHTML")
    # The cut record: a failure naming the file and offset, a dead letter to read it again.
    torn_rows = [url for url in states if url.startswith(f"{torn}#offset=")]
    assert len(torn_rows) == 1 and states[torn_rows[0]] == ("failed", "ArchiveUnreadable")
    letters = DeadLetterStore(f"sqlite:///{tmp_path / 'dead_letter.db'}").rows(
        DeadLetterFilter(job_id="archived")
    )
    by_url = {row["url"]: row for row in letters}
    assert by_url[torn_rows[0]]["metadata"]["warc_file"] == str(torn)
    assert by_url[f"{archive}/logo.png"]["metadata"]["warc_file"] == str(first)
    archived = {
        d["url"].removeprefix(archive): d["content_hash"]
        for d in store.iter_documents("archived", which="all")
    }
    store.close()

    # The same pages crawled live: the same texts.
    with SiteServer({p: Response(200, html) for p, html in pages.items()}) as site:
        live = quarry_crawl(
            urls=[site.url(p) for p in pages],
            job_id="live",
            database_url=db,
            options=_options(tmp_path),
        )
        assert live.state == "completed"
        prefix = site.url("")
    store = DocumentStore(db)
    crawled = {
        d["url"].removeprefix(prefix.rstrip("/")): d["content_hash"]
        for d in store.iter_documents("live", which="all")
    }
    assert len(crawled) > 250
    assert {p: h for p, h in archived.items() if p in pages} == crawled
    store.close()


def test_a_warc_job_killed_three_times_resumes_by_record(tmp_path: Path) -> None:
    """Three files of 150 records, `quarry crawl --warc` SIGKILLed three times at random
    moments, then run again: every record's URL has one verdict, no document twice, and
    each file's records were registered once (a resumed scan starts at the last committed
    offset, never at the file's start)."""
    bodies = [html for html, _ in load_benchmark(50).values()]
    files = []
    urls: list[str] = []
    for n in range(3):
        pages = {f"http://archive.test/{n}/{i}": bodies[i % len(bodies)] for i in range(150)}
        files.append(str(write_warc(tmp_path / f"part-{n}.warc.gz", pages)))
        urls += pages
    db = f"sqlite:///{tmp_path / 'quarry.db'}"
    args = ["crawl", "--job-id", "cc", "--db", db, "--batch-size", "10", "--no-progress"]
    args += [arg for name in files for arg in ("--warc", name)]
    env = quarry_env(tmp_path)
    rng = random.Random(20261129)
    done = 0
    for _ in range(3):
        proc = start_quarry(args, tmp_path, env)
        target = min(done + rng.randint(10, 60), len(urls) - 20)
        try:
            done = wait_for_processed(db, "cc", target, timeout=180, proc=proc)
        except AssertionError:
            proc.kill()
            raise
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    final = run_quarry(args, tmp_path, env)
    assert final.returncode == 0, (final.stdout + final.stderr)[-3000:]

    store = DocumentStore(db)
    states = store.url_states("cc")
    assert set(states) == set(urls)  # 0 missing, nothing else
    assert {state for state, _ in states.values()} <= VERDICTS - {"failed"}
    docs = [d["url"] for d in store.iter_documents("cc", which="all")]
    assert len(docs) == len(set(docs))  # no document twice
    # Each URL points at its own record, in its own file.
    records = store.warc_records("cc")
    for url, (_, ref) in records.items():
        assert ref is not None and ref.file.endswith(f"part-{url.split('/')[3]}.warc.gz")
    assert len({ref for _, ref in records.values()}) == len(urls)
    store.close()
    # The checkpoint lists each file's progress: all read to their end.
    checkpoint = read_checkpoint(tmp_path / "checkpoints" / "cc.json")
    assert checkpoint.warc_inputs == {str(Path(f).resolve()): -1 for f in files}
    # So does `quarry status`.
    status = run_quarry(["status", "--job-id", "cc", "--db", db, "--json"], tmp_path, env)
    assert status.returncode == 0, status.stderr
    (row,) = json.loads(status.stdout)
    assert row["warc_inputs"] == checkpoint.warc_inputs and row["pending"] == 0


def test_a_remote_warc_is_read_by_range_not_downloaded_first(tmp_path: Path) -> None:
    """A WARC file given by URL (fsspec; here HTTP with byte ranges on 127.0.0.1) goes
    through the same pipeline: every record stored, read by ranges."""
    from tests.support.rangeserver import RangeServer

    text = "A remote archived page, number {i}, with words enough to be kept. " * 5
    pages = {
        f"http://remote.test/{i}": f"<html><body><p>{text.format(i=i)}</p></body></html>".encode()
        for i in range(40)
    }
    served = tmp_path / "served"
    served.mkdir()
    write_warc(served / "remote.warc.gz", pages)
    db = f"sqlite:///{tmp_path / 'store.db'}"
    with RangeServer(served) as remote:
        result = quarry_crawl(
            job_id="remote",
            database_url=db,
            warc_files=[remote.url("remote.warc.gz")],
            options=_options(tmp_path),
        )
        assert result.state == "completed"
        assert remote.requests > 1  # ranges, not one download
    store = DocumentStore(db)
    assert sorted(d["url"] for d in store.iter_documents("remote", which="all")) == sorted(pages)
    refs = {ref.file for _, ref in store.warc_records("remote").values() if ref}
    assert refs == {remote.url("remote.warc.gz")}
    store.close()
