"""Several processes on one database at once, as workers of one job on several machines
would be: four processes opening a fresh store all succeed with one identity, and two
processes committing overlapping URL sets of one job never store a URL twice."""

from __future__ import annotations

import dataclasses
import multiprocessing
from collections import Counter
from pathlib import Path

import pytest

from quarrycore.store import DocumentStore
from tests.unit.test_store import doc

WHERE = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def _url(request: pytest.FixtureRequest, tmp_path: Path, where: str) -> str:
    if where == "postgres":
        return str(request.getfixturevalue("postgres_url"))
    return f"sqlite:///{tmp_path / 'shared.db'}"


def _open(
    url: str, start: multiprocessing.synchronize.Barrier, out: multiprocessing.Queue[str]
) -> None:
    from quarrycore.deadletters import DeadLetterStore

    start.wait(timeout=60)
    store = DocumentStore(url)
    DeadLetterStore(url)
    out.put(store.store_id)


def _commit(url: str, first: int, start: multiprocessing.synchronize.Barrier, rounds: int) -> None:
    """Commit URLs first..first+199 of job j, 20 a batch (each URL its own text)."""
    store = DocumentStore(url)
    start.wait(timeout=60)
    for n in range(rounds):
        lo = first + 20 * n
        urls = [f"http://x/{i}" for i in range(lo, lo + 20)]
        store.commit_batch("j", [doc(u, f"the text of {u}") for u in urls], [])
    store.close()


@pytest.mark.parametrize("where", WHERE)
def test_four_processes_open_a_fresh_store_at_once(
    request: pytest.FixtureRequest, tmp_path: Path, where: str
) -> None:
    url = _url(request, tmp_path, where)
    ctx = multiprocessing.get_context("spawn")
    start, out = ctx.Barrier(4), ctx.Queue()
    procs = [ctx.Process(target=_open, args=(url, start, out)) for _ in range(4)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(timeout=120)
    assert [proc.exitcode for proc in procs] == [0, 0, 0, 0]
    ids = {out.get(timeout=5) for _ in range(4)}
    assert len(ids) == 1  # one store, one identity


@pytest.mark.parametrize("where", WHERE)
def test_two_processes_committing_overlapping_urls_store_each_once(
    request: pytest.FixtureRequest, tmp_path: Path, where: str
) -> None:
    url = _url(request, tmp_path, where)
    store = DocumentStore(url)
    store.start_job("j", {})
    store.add_urls("j", [f"http://x/{i}" for i in range(300)])
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Barrier(2)
    # URLs 0-199 and 100-299: 100 URLs committed by both, at the same moments.
    procs = [ctx.Process(target=_commit, args=(url, first, start, 10)) for first in (0, 100)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(timeout=180)
    assert [proc.exitcode for proc in procs] == [0, 0]
    rows = Counter(d["url"] for d in store.iter_documents("j", which="all"))
    assert len(rows) == 300 and set(rows.values()) == {1}
    counts = store.counts("j")
    assert (counts.stored, counts.pending, counts.duplicate) == (300, 0, 0)
    store.close()


def _commit_texts(
    url: str, prefix: str, start: multiprocessing.synchronize.Barrier, rounds: int
) -> None:
    """Commit URLs <prefix>0..199 of job j, 20 a batch; URL n's text is text n, the same
    as the other process's URL n."""
    store = DocumentStore(url)
    start.wait(timeout=60)
    for n in range(rounds):
        batch = range(20 * n, 20 * n + 20)
        docs = [doc(f"http://{prefix}/{i}", "") for i in batch]
        docs = [
            dataclasses.replace(d, text=f"text {i}", content_hash=f"{i:064d}")
            for i, d in zip(batch, docs, strict=True)
        ]
        store.commit_batch("j", docs, [])
    store.close()


@pytest.mark.parametrize("where", WHERE)
def test_two_processes_committing_the_same_texts_keep_each_text_once(
    request: pytest.FixtureRequest, tmp_path: Path, where: str
) -> None:
    """Dedup is decided in the database, one commit of a job at a time: two processes
    committing different URLs with the same texts at the same moments keep each text
    once; every other URL is its duplicate."""
    url = _url(request, tmp_path, where)
    store = DocumentStore(url)
    store.start_job("j", {})
    store.add_urls("j", [f"http://{p}/{i}" for p in ("a", "b") for i in range(200)])
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Barrier(2)
    procs = [ctx.Process(target=_commit_texts, args=(url, p, start, 10)) for p in ("a", "b")]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(timeout=180)
    assert [proc.exitcode for proc in procs] == [0, 0]
    kept = Counter(d["content_hash"] for d in store.iter_documents("j"))
    assert len(kept) == 200 and set(kept.values()) == {1}
    counts = store.counts("j")
    assert (counts.stored, counts.duplicate, counts.pending) == (200, 200, 0)
    store.close()
