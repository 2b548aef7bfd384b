"""The store's side of re-extraction, on SQLite and PostgreSQL: the commit records each
URL's WARC record; reopening a job makes exactly its extracted, archived URLs pending
again (documents and band keys dropped) once, even when run again; a store from before
the archive gains its columns."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import sqlalchemy as sa

from quarrycore.exceptions import ConfigError
from quarrycore.extract.minhash import signature
from quarrycore.extract.neardup import NearDupConfig
from quarrycore.pipeline import reextract
from quarrycore.records import Failure, WarcRef
from quarrycore.settings import QuarrySettings
from quarrycore.store import DocumentStore
from quarrycore.store.schema import minhash_bands
from tests.unit.test_store import doc


def _ref(i: int) -> WarcRef:
    return WarcRef("j/a.warc.gz", 1000 * i, 900)


def _crawled(store: DocumentStore) -> list[str]:
    """A job of five URLs: stored, filtered, duplicate, failed at extract (all with a
    record), failed at crawl (none), and one stored without a record (warc was off)."""
    urls = [f"http://x/{name}" for name in ("kept", "filtered", "dup", "empty", "gone", "old")]
    store.start_job("j", {})
    store.add_urls("j", urls)
    kept, dup = doc(urls[0], "the same words"), doc(urls[2], "the same words")
    dup = replace(dup, content_hash=kept.content_hash)
    filtered = replace(doc(urls[1]), filter="word_count", filter_reason="too short")
    empty = Failure(urls[3], "extract", "NoContent", "no text", retryable=False)
    gone = Failure(urls[4], "crawl", "HTTPStatus", "HTTP 404", retryable=False, status_code=404)
    refs = {url: _ref(i) for i, url in enumerate(urls[:4])}
    store.commit_batch("j", [kept, filtered, dup], [empty, gone], warc=refs)
    store.commit_batch("j", [doc(urls[5], "older words")], [])
    return urls


def test_the_commit_records_each_urls_record(store_url: str) -> None:
    store = DocumentStore(store_url)
    urls = _crawled(store)
    records = store.warc_records("j")
    assert records == {
        urls[0]: ("stored", _ref(0)),
        urls[1]: ("filtered", _ref(1)),
        urls[2]: ("duplicate", _ref(2)),
        urls[3]: ("failed", _ref(3)),
        urls[4]: ("failed", None),
        urls[5]: ("stored", None),
    }
    assert store.archived_files("j") == ["j/a.warc.gz"]
    store.close()


def test_reopening_makes_the_extracted_archived_urls_pending_once(store_url: str) -> None:
    store = DocumentStore(store_url)
    urls = _crawled(store)
    lease = store.lease("j", ttl=60)
    lease.acquire()
    assert store.reopen_archived("j", lease=lease) == 4
    states = store.url_states("j")
    assert [states[u][0] for u in urls] == ["pending"] * 4 + ["failed", "stored"]
    assert [d["url"] for d in store.iter_documents("j", which="all")] == [urls[5]]
    page = store.archived_pending_page("j", 0, 10)
    assert [(url, ref) for url, _, _, ref in page] == [(u, _ref(i)) for i, u in enumerate(urls[:4])]
    assert store.archived_pending_page("j", page[1][1], 10)[0][0] == urls[2]  # keyset paging

    # Half of it committed again, then a new run: the rest stays pending, nothing reset.
    store.commit_batch("j", [doc(urls[0], "the same words")], [], warc={urls[0]: _ref(0)})
    assert store.reopen_archived("j", lease=lease) == 0
    assert store.url_states("j")[urls[0]][0] == "stored"
    assert len(store.archived_pending_page("j", 0, 10)) == 3
    store.end_reextract("j")  # done: the next re-extraction starts over
    assert store.reopen_archived("j", lease=lease) == 1  # the one stored again
    lease.release()
    store.close()


def test_reopening_drops_the_band_keys(store_url: str) -> None:
    store = DocumentStore(store_url)
    store.start_job("j", {})
    store.add_urls("j", ["http://x/a"])
    near = NearDupConfig(threshold=0.8)
    signed = doc("http://x/a", "one two three four five six seven")
    signed = replace(signed, minhash=signature(signed.text, near))
    store.commit_batch("j", [signed], [], warc={"http://x/a": _ref(0)}, near_dup=near)
    with store.engine.connect() as conn:
        bands = sa.select(sa.func.count()).select_from(minhash_bands)
        assert conn.execute(bands).scalar_one() > 0
        store.reopen_archived("j")
        assert conn.execute(bands).scalar_one() == 0
    store.close()


def test_a_job_without_its_warc_files_is_refused_before_any_change(tmp_path: Path) -> None:
    store = DocumentStore(f"sqlite:///{tmp_path / 'store.db'}")
    _crawled(store)
    settings = QuarrySettings(data_dir=tmp_path / "data")
    lease = store.lease("j", ttl=60)
    with pytest.raises(ConfigError, match="1 of the 1 WARC files of job 'j' are not under"):
        reextract.start(store, "j", settings, lease)
    assert store.counts("j").pending == 0  # nothing changed
    store.start_job("none", {})
    with pytest.raises(ConfigError, match="no archived responses"):
        reextract.start(store, "none", settings, lease)
    store.close()


def test_a_store_from_before_the_archive_gains_its_columns(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    first = DocumentStore(url)
    first.start_job("j", {})
    first.add_urls("j", ["http://x/old"])
    first.commit_batch("j", [doc("http://x/old")], [])
    first.close()
    with sa.create_engine(url).begin() as conn:  # the tables as the version before had them
        for column in ("warc_file", "warc_offset", "warc_length"):
            conn.execute(sa.text(f"ALTER TABLE job_urls DROP COLUMN {column}"))
        conn.execute(sa.text("ALTER TABLE jobs DROP COLUMN reextract_started"))
        conn.execute(sa.text("DROP TABLE quarry_store_version"))  # made before versioning
    reopened = DocumentStore(url)
    assert reopened.warc_records("j") == {"http://x/old": ("stored", None)}
    assert reopened.archived_files("j") == []
    reopened.close()
