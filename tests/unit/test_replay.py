"""Requeueing dead letters for a replay: under the job's lease, each URL validated again."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from quarrycore.deadletters import DeadLetterFilter, DeadLetterStore
from quarrycore.exceptions import InvalidURL, JobLocked
from quarrycore.pipeline.replay import requeue_dead_letters, select_replay
from quarrycore.records import Failure
from quarrycore.settings import QuarrySettings
from quarrycore.store import DocumentStore, JobLock

ALL = DeadLetterFilter(retryable=None)  # --force: permanent failures too


def _setup(tmp_path: Path, urls: list[str], invalid: Sequence[str] = ()) -> QuarrySettings:
    settings = QuarrySettings(
        database_url=f"sqlite:///{tmp_path / 's.db'}",
        dead_letter_url=f"sqlite:///{tmp_path / 'dl.db'}",
    )
    store = DocumentStore(settings.database_url)
    store.start_job("j", {})
    bad = [Failure.from_error(raw, InvalidURL(f"malformed {raw}")) for raw in invalid]
    store.add_urls("j", urls, invalid=bad)
    failures = [
        Failure(url=u, stage="crawl", error_type="HTTPStatus", message="503", retryable=True)
        for u in urls
    ]
    store.commit_batch("j", [], failures)
    dead_letters = DeadLetterStore(settings.dead_letter_url)
    dead_letters.record("j", [*failures, *bad])
    store.close()
    dead_letters.close()
    return settings


def test_a_job_held_by_a_live_run_is_refused_before_anything_changes(tmp_path: Path) -> None:
    settings = _setup(tmp_path, ["http://x/1", "http://x/2"])
    store = DocumentStore(settings.database_url)
    JobLock(store.engine, "j", ttl=3600, owner="other-host:1:cafe").acquire()
    with pytest.raises(JobLocked):
        requeue_dead_letters(settings, ALL)
    assert {state for state, _ in store.url_states("j").values()} == {"failed"}


def test_urls_are_validated_again_and_invalid_ones_recorded_not_requeued(tmp_path: Path) -> None:
    settings = _setup(tmp_path, ["http://x/1"], invalid=["http://[::1"])
    replayed = requeue_dead_letters(settings, ALL)
    assert replayed == {"j": ["http://x/1"]}
    store = DocumentStore(settings.database_url)
    states = store.url_states("j")
    assert states["http://x/1"] == ("pending", None)
    assert states["http://[::1"] == ("failed", "InvalidURL")  # not pending: never fetched
    [row] = DeadLetterStore(settings.dead_letter_url).for_url("http://[::1")
    assert (row["stage"], row["error_type"], row["failure_count"]) == ("validate", "InvalidURL", 2)
    JobLock(store.engine, "j", ttl=60, owner="other-host:2:beef").acquire()  # released


def test_selection_lists_each_url_once_per_job(tmp_path: Path) -> None:
    dead_letters = DeadLetterStore(f"sqlite:///{tmp_path / 'dl.db'}")
    urls = [f"http://x/{i}" for i in range(50)]
    for stage in ("crawl", "extract"):  # the same URL failed at two stages: two rows
        dead_letters.record(
            "j",
            [
                Failure(url=u, stage=stage, error_type="E", message="m", retryable=True)
                for u in urls
            ],
        )
    assert select_replay(dead_letters, ALL) == {"j": urls}
