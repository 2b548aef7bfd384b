"""The store's side of recrawls, on SQLite and PostgreSQL: a round makes due exactly
the URLs checked before its cutoff, a window a transaction; a round interrupted while
making due continues with the same cutoff and cursor, and one whose revisits are
outstanding is continued, never restarted."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from quarrycore.store import DocumentStore
from quarrycore.store.revisits import current_run
from tests.unit.test_store import doc


def _job(store: DocumentStore, n: int) -> list[str]:
    urls = [f"http://x/{i}" for i in range(n)]
    store.start_job("j", {})
    store.add_urls("j", urls)
    store.commit_batch("j", [doc(url, f"text {url}") for url in urls], [])
    return urls


def test_a_round_makes_due_what_was_checked_before_its_cutoff(store_url: str) -> None:
    store = DocumentStore(store_url)
    urls = _job(store, 25)
    future = datetime.now(UTC) + timedelta(seconds=5)
    cutoff, cursor = store.begin_recrawl("j", future)
    assert (cutoff, cursor) == (future, 0)
    # Interrupted after one window of 10: the next run continues with the same cutoff.
    made, cursor = store.make_due("j", cutoff, 0, 10)
    assert (made, cursor) == (10, 10)
    again, resumed = store.begin_recrawl("j", future + timedelta(hours=1))
    assert (again, resumed) == (future, 10)
    made, cursor = store.make_due("j", cutoff, 10, 10)
    assert (made, cursor) == (10, 20)
    made, cursor = store.make_due("j", cutoff, 20, 10)
    assert (made, cursor) == (5, None)
    assert store.counts("j").pending == 25
    with store.engine.connect() as conn:
        assert current_run(conn, "j") == 2  # one round, however many runs made it due

    # All due, revisits outstanding: a new run continues them (no new round).
    assert store.begin_recrawl("j", future)[1] is None
    store.commit_batch("j", [doc(url, f"text {url}") for url in urls], [])
    counts = store.counts("j")
    assert (counts.pending, counts.visit_run, counts.visits) == (0, 2, {"unchanged": 25})
    # Done: the next round starts, and a cutoff before the last check makes nothing due.
    past = datetime.now(UTC) - timedelta(hours=1)
    cutoff, cursor = store.begin_recrawl("j", past)
    assert cursor == 0 and store.make_due("j", cutoff, 0, 100) == (0, None)
    store.close()


def test_versions_survive_a_reextraction(store_url: str) -> None:
    """A changed page gets version 2 (version 1 in the history); re-extracted from the
    archive it is version 2 again, and its next change version 3."""
    from quarrycore.records import WarcRef

    store = DocumentStore(store_url)
    (url,) = _job(store, 1)
    ref = {url: WarcRef("j/a.warc.gz", 0, 10)}

    def revisit(text: str) -> None:
        cutoff, cursor = store.begin_recrawl("j", datetime.now(UTC) + timedelta(seconds=5))
        assert cursor == 0 and store.make_due("j", cutoff, 0, 10) == (1, None)
        store.commit_batch("j", [doc(url, text)], [], warc=ref)

    revisit("second text")
    assert store.version_counts("j") == {url: 2}
    store.reopen_archived("j")
    store.commit_batch("j", [doc(url, "second text")], [], warc=ref)
    store.end_reextract("j")
    (latest,) = store.iter_documents("j")
    assert latest["version"] == 2 and store.version_counts("j") == {url: 2}
    revisit("third text")
    rows = sorted(store.iter_documents("j", versions="all"), key=lambda r: r["version"])
    assert [(r["version"], r["text"]) for r in rows] == [
        (1, f"text {url}"),
        (2, "second text"),
        (3, "third text"),
    ]
    store.close()
