"""The document store on real SQLite files and, where marked, a real PostgreSQL."""

from __future__ import annotations

import dataclasses
import hashlib
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from quarrycore.deadletters import DeadLetterStore
from quarrycore.exceptions import ConfigError
from quarrycore.records import Document, Failure
from quarrycore.store import DocumentStore


def doc(url: str, text: str = "Some words of text") -> Document:
    return Document(
        url=url,
        final_url=url,
        status_code=200,
        fetched_at=datetime.now(UTC),
        text=text,
        content_hash=hashlib.sha256(f"{url}|{text}".encode()).hexdigest(),
        word_count=len(text.split()),
        title="T",
        out_links=("http://a/",),
    )


def failure(url: str) -> Failure:
    return Failure(
        url=url,
        stage="crawl",
        error_type="HTTPStatus",
        message="HTTP 404",
        retryable=False,
        status_code=404,
    )


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DocumentStore]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'nested' / 'store.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    s = DocumentStore(url)
    s.start_job("j", {})
    yield s
    s.close()


def test_storing_the_same_url_twice_is_one_row(store: DocumentStore) -> None:
    store.add_urls("j", ["http://x/1"])
    store.commit_batch("j", [doc("http://x/1", "first version")], [])
    store.commit_batch("j", [doc("http://x/1", "second version")], [])
    rows = list(store.iter_documents("j"))
    assert [r["text"] for r in rows] == ["second version"]
    assert rows[0]["out_links"] == ["http://a/"]


def test_adding_urls_again_keeps_their_state_and_order(store: DocumentStore) -> None:
    assert store.add_urls("j", ["http://x/1", "http://x/2"]) == 2
    store.commit_batch("j", [doc("http://x/1")], [failure("http://x/2")])
    assert store.add_urls("j", ["http://x/2", "http://x/1", "http://x/3"]) == 1
    assert store.url_states("j") == {
        "http://x/1": ("stored", None),
        "http://x/2": ("failed", "HTTPStatus"),
        "http://x/3": ("pending", None),
    }
    counts = store.counts("j")
    assert (counts.pending, counts.stored, counts.failed, counts.total) == (1, 1, 1, 3)
    assert counts.failures_by_type == {"crawl/HTTPStatus": 1}


def test_invalid_inputs_are_registered_as_failed(store: DocumentStore) -> None:
    bad = Failure(
        url="nope", stage="validate", error_type="InvalidURL", message="bad", retryable=False
    )
    store.add_urls("j", ["http://x/1"], invalid=[bad])
    assert store.url_states("j") == {
        "http://x/1": ("pending", None),
        "nope": ("failed", "InvalidURL"),
    }


def test_pending_batches_do_not_shift_when_urls_are_committed(store: DocumentStore) -> None:
    urls = [f"http://x/{i}" for i in range(10)]
    store.add_urls("j", urls)
    pages = store.iter_pending("j", 4)
    first = next(pages)
    store.commit_batch("j", [doc(u) for u in first], [])  # committed while iterating
    rest = [u for page in pages for u in page]
    assert first == urls[:4] and rest == urls[4:]


def test_jobs_are_separate(store: DocumentStore) -> None:
    store.start_job("other", {})
    store.add_urls("j", ["http://x/1"])
    store.add_urls("other", ["http://x/1"])
    store.commit_batch("j", [doc("http://x/1")], [])
    assert store.counts("other").pending == 1
    assert store.job_ids() == ["j", "other"]
    assert len(list(store.iter_documents())) == 1


def test_long_urls_fit_the_key(store: DocumentStore) -> None:
    url = "http://x/" + "a" * 6000
    store.add_urls("j", [url])
    store.commit_batch("j", [doc(url)], [])
    assert store.url_states("j") == {url: ("stored", None)}


def test_malformed_database_url_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="malformed database URL"):
        DocumentStore("not a url")
    with pytest.raises(ConfigError, match="no driver"):
        DocumentStore("nosuchdb://x/y")


def test_the_same_text_under_three_urls_is_stored_once(store: DocumentStore) -> None:
    urls = ["http://x/a", "http://x/b", "http://x/c"]
    store.add_urls("j", urls)
    same = "The very same article text."
    assert store.commit_batch("j", [doc(urls[0], same)], []).duplicate == 0
    d_b, d_c = doc(urls[1], same), doc(urls[2], same)
    shared = "same-hash"
    from dataclasses import replace

    first = replace(doc(urls[0], same), content_hash=shared)
    store.commit_batch("j", [first], [])  # the stored document, again: not its own duplicate
    verdicts = store.commit_batch(
        "j", [replace(d_b, content_hash=shared), replace(d_c, content_hash=shared)], []
    )
    assert (verdicts.stored, verdicts.duplicate, verdicts.failed) == (0, 2, 0)
    assert store.url_states("j") == {
        urls[0]: ("stored", None),
        urls[1]: ("duplicate", "Duplicate"),
        urls[2]: ("duplicate", "Duplicate"),
    }
    assert [d["url"] for d in store.iter_documents("j")] == [urls[0]]
    counts = store.counts("j")
    assert (counts.stored, counts.duplicate, counts.failed, counts.processed) == (1, 2, 0, 3)
    assert counts.failures_by_type == {}  # a duplicate is no failure
    assert store.duplicates("j") == {urls[1]: urls[0], urls[2]: urls[0]}


def test_a_filtered_document_is_stored_with_its_verdict(store: DocumentStore) -> None:
    from dataclasses import replace

    from quarrycore.records import Failure

    urls = ["http://x/kept", "http://x/rejected", "http://x/copy", "http://x/broken"]
    store.add_urls("j", urls)
    rejected = replace(
        doc(urls[1], "Spam spam spam."), filter="gopher_repetition", filter_reason="too much"
    )
    # The same text as the filtered one: a filtered document is no original to repeat.
    copy = replace(doc(urls[2], "Spam spam spam."), content_hash=rejected.content_hash)
    broken = Failure(urls[3], "crawl", "HTTPStatus", "HTTP 404", False, 404)
    verdicts = store.commit_batch("j", [doc(urls[0]), rejected, copy], [broken])
    assert (verdicts.stored, verdicts.filtered, verdicts.duplicate, verdicts.failed) == (
        2,
        1,
        0,
        1,
    )
    assert store.url_states("j") == {
        urls[0]: ("stored", None),
        urls[1]: ("filtered", "gopher_repetition"),
        urls[2]: ("stored", None),
        urls[3]: ("failed", "HTTPStatus"),
    }
    counts = store.counts("j")
    assert counts.filtered_by == {"gopher_repetition": 1}
    assert counts.failures_by_type == {"crawl/HTTPStatus": 1}
    kept = [d["url"] for d in store.iter_documents("j")]
    assert sorted(kept) == sorted([urls[0], urls[2]])
    (filtered,) = store.iter_documents("j", which="filtered")
    assert (filtered["url"], filtered["filter"], filtered["filter_reason"]) == (
        urls[1],
        "gopher_repetition",
        "too much",
    )
    assert len(list(store.iter_documents("j", which="all"))) == 3


def test_an_old_stores_duplicates_become_duplicates(tmp_path: Path) -> None:
    import sqlalchemy as sa

    from quarrycore.store.schema import job_urls, store_meta

    url = f"sqlite:///{tmp_path / 'old.db'}"
    store = DocumentStore(url)
    store.add_urls("j", ["http://x/a", "http://x/b"])
    with store.engine.begin() as conn:  # as a store of the version before verdicts had it
        conn.execute(
            job_urls.update()
            .where(job_urls.c.url == "http://x/b")
            .values(state="failed", stage="filter", error_type="Duplicate")
        )
        conn.execute(store_meta.delete().where(store_meta.c.key == "verdicts"))
    store.close()
    upgraded = DocumentStore(url)
    assert upgraded.url_states("j")["http://x/b"] == ("duplicate", "Duplicate")
    assert upgraded.counts("j").failed == 0
    with upgraded.engine.connect() as conn:
        marker = sa.select(store_meta.c.value).where(store_meta.c.key == "verdicts")
        assert conn.execute(marker).scalar() == "1"  # done once, not at every open


def test_markdown_is_stored_beside_the_text(store: DocumentStore) -> None:
    from dataclasses import replace

    store.add_urls("j", ["http://x/md", "http://x/plain"])
    with_markdown = replace(doc("http://x/md", "Title body"), markdown="# Title\n\nbody")
    store.commit_batch("j", [with_markdown, doc("http://x/plain")], [])
    rows = {r["url"]: r for r in store.iter_documents("j")}
    assert rows["http://x/md"]["markdown"] == "# Title\n\nbody"
    assert rows["http://x/md"]["text"] == "Title body"
    assert rows["http://x/plain"]["markdown"] is None


def test_a_store_from_before_a_new_column_gains_it_and_keeps_its_rows(tmp_path: Path) -> None:
    import sqlalchemy as sa

    url = f"sqlite:///{tmp_path / 'old.db'}"
    first = DocumentStore(url)
    first.start_job("j", {})
    first.add_urls("j", ["http://x/old"])
    first.commit_batch("j", [doc("http://x/old", "stored before markdown existed")], [])
    first.close()
    with sa.create_engine(url).begin() as conn:  # the table as an older version made it
        conn.execute(sa.text("ALTER TABLE documents DROP COLUMN markdown"))
        conn.execute(sa.text("DROP TABLE quarry_store_version"))  # made before versioning

    reopened = DocumentStore(url)
    [row] = reopened.iter_documents("j")
    assert row["text"] == "stored before markdown existed" and row["markdown"] is None
    columns = {c["name"] for c in sa.inspect(reopened.engine).get_columns("documents")}
    assert "markdown" in columns


def test_values_longer_than_their_column_are_cut_not_refused(store: DocumentStore) -> None:
    # PostgreSQL refuses a value longer than a VARCHAR(n) (DataError) where SQLite keeps
    # it: one page's odd metadata must not fail its whole batch.
    store.start_job("j", {})
    store.add_urls("j", ["http://x/long", "http://x/odd"])
    odd = Failure(
        url="http://x/odd", stage="crawl", error_type="E" * 100, message="m", retryable=False
    )
    long_lang = dataclasses.replace(doc("http://x/long"), language="x" * 40, date="2" * 50)
    store.commit_batch("j", [long_lang], [odd])
    [row] = list(store.iter_documents("j"))
    assert (row["language"], row["date"]) == ("x" * 16, "2" * 32)
    assert store.url_states("j")["http://x/odd"] == ("failed", "E" * 64)


@pytest.mark.parametrize("where", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_simultaneous_first_starts_all_open_the_store(
    request: pytest.FixtureRequest, tmp_path: Path, where: str
) -> None:
    # Four processes (here: threads, each with its own engine) open a new store at once.
    # The race is lost rarely (SQLite's switch to WAL: 8 of 100 fresh files before it was
    # tried again), so SQLite gets 40 fresh files.
    urls = (
        [request.getfixturevalue("postgres_url")]
        if where == "postgres"
        else [f"sqlite:///{tmp_path / f'fresh{n}.db'}" for n in range(40)]
    )
    for url in urls:
        errors, ids = _open_at_once(url, openers=4)
        assert errors == []
        assert len(ids) == 4 and len(set(ids)) == 1  # one store, one identity


def _open_at_once(url: str, *, openers: int) -> tuple[list[BaseException], list[str]]:
    start = threading.Barrier(openers)
    errors: list[BaseException] = []
    ids: list[str] = []

    def first_start() -> None:
        start.wait()
        try:
            store = DocumentStore(url)
            DeadLetterStore(url)
            ids.append(store.store_id)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=first_start) for _ in range(openers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return errors, ids
