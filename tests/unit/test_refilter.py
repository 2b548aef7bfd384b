"""Re-filtering a job from its stored texts, without fetching: kept documents a new
setting rejects become filtered, filtered ones it accepts become stored (or duplicates of
a kept one), a second run changes nothing, and a live run's job is refused."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from quarrycore.exceptions import JobLocked
from quarrycore.pipeline.refilter import refilter_job
from quarrycore.quality_settings import QualityThresholds
from quarrycore.records import Document
from quarrycore.settings import QuarrySettings
from quarrycore.store import DocumentStore

APPLES = "Good words about apples and orchards in autumn."


def doc(url: str, text: str, *, rejected: bool = False) -> Document:
    made = Document(
        url=url,
        final_url=url,
        status_code=200,
        fetched_at=datetime.now(UTC),
        text=text,
        content_hash=hashlib.sha256(text.encode()).hexdigest(),
        word_count=len(text.split()),
    )
    if rejected:  # as the crawl's filters judged it
        return replace(made, filter="boilerplate", filter_reason="boilerplate marker 'lorem ipsum'")
    return made


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DocumentStore]:
    url = (
        f"sqlite:///{tmp_path / 'store.db'}"
        if request.param == "sqlite"
        else request.getfixturevalue("postgres_url")
    )
    crawled = DocumentStore(url)
    crawled.start_job("j", {})
    urls = [f"http://x/{name}" for name in ("apples", "lorem", "bananas", "apples-copy")]
    crawled.add_urls("j", urls)
    crawled.commit_batch(
        "j",
        [
            doc(urls[0], APPLES),
            doc(urls[1], "Lorem ipsum dolor sit amet, a page of filler."),
            doc(urls[2], "Words about bananas, grown far from any orchard."),
            # The apples text again, rejected at crawl time: once accepted, a duplicate.
            doc(urls[3], APPLES, rejected=True),
        ],
        [],
    )
    crawled.commit_batch("j", [doc(urls[1], "Lorem ipsum dolor sit amet.", rejected=True)], [])
    yield crawled
    crawled.close()


def _settings(**quality: object) -> QuarrySettings:
    return QuarrySettings(quality=QualityThresholds(filters=["boilerplate"], **quality))


def test_new_filters_move_stored_documents_without_a_fetch(store: DocumentStore) -> None:
    before = store.url_states("j")
    assert before["http://x/lorem"] == ("filtered", "boilerplate")
    # Bananas are the new filler; lorem ipsum is fine now.
    report = refilter_job(store, "j", _settings(boilerplate_markers=["bananas"]), batch_size=2)
    assert report.examined == 4
    assert (
        report.total("to_filtered"),
        report.total("to_stored"),
        report.total("to_duplicate"),
    ) == (1, 1, 1)
    assert store.url_states("j") == {
        "http://x/apples": ("stored", None),
        "http://x/lorem": ("stored", None),
        "http://x/bananas": ("filtered", "boilerplate"),
        "http://x/apples-copy": ("duplicate", "Duplicate"),
    }
    assert store.duplicates("j") == {"http://x/apples-copy": "http://x/apples"}
    (filtered,) = store.iter_documents("j", which="filtered")
    assert filtered["url"] == "http://x/bananas" and "bananas" in filtered["filter_reason"]
    assert "bananas" in filtered["text"]  # the text is kept, only judged
    counts = store.counts("j")
    assert (counts.stored, counts.filtered, counts.duplicate, counts.failed) == (2, 1, 1, 0)

    again = refilter_job(store, "j", _settings(boilerplate_markers=["bananas"]))
    assert again.examined == 3 and sum(again.total(n) for n in ("to_filtered", "to_stored")) == 0


def test_a_job_held_by_a_live_run_is_refused(store: DocumentStore) -> None:
    live = store.lease("j", ttl=60)
    live.acquire()
    with pytest.raises(JobLocked):
        refilter_job(store, "j", _settings())
    assert store.url_states("j")["http://x/lorem"] == ("filtered", "boilerplate")
