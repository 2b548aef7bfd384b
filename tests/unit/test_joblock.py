"""One live run per job: the lease in the store, on real SQLite and PostgreSQL."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from quarrycore.exceptions import JobLocked, JobLockLost
from quarrycore.records import Failure
from quarrycore.store import DocumentStore, JobLock
from quarrycore.store.jobs import _machine


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DocumentStore]:
    url = (
        f"sqlite:///{tmp_path / 's.db'}"
        if request.param == "sqlite"
        else request.getfixturevalue("postgres_url")
    )
    s = DocumentStore(url)
    s.start_job("j", {})
    yield s
    s.close()


def test_a_second_live_run_is_refused_until_the_first_releases(store: DocumentStore) -> None:
    first = JobLock(store.engine, "j", ttl=60)
    first.acquire()
    second = JobLock(store.engine, "j", ttl=60)
    with pytest.raises(JobLocked, match="is being run by"):
        second.acquire()
    first.release()
    second.acquire()
    with pytest.raises(JobLocked):
        first.acquire()


def test_a_killed_holder_on_this_machine_does_not_keep_the_lock(store: DocumentStore) -> None:
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    ghost = JobLock(store.engine, "j", ttl=3600, owner=f"{_machine()}:{dead.stdout.strip()}:dead")
    ghost.acquire()
    JobLock(store.engine, "j", ttl=3600).acquire()  # the holder's process is gone


def test_a_dead_pid_of_another_pid_namespace_is_not_taken_for_ours(store: DocumentStore) -> None:
    # A container with the same hostname: its PIDs are not ours to check.
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    host = socket.gethostname()
    JobLock(
        store.engine, "j", ttl=3600, owner=f"{host}/4026530000:{dead.stdout.strip()}:x"
    ).acquire()
    with pytest.raises(JobLocked):
        JobLock(store.engine, "j", ttl=3600).acquire()


def test_a_holder_elsewhere_keeps_it_until_its_lease_expires(store: DocumentStore) -> None:
    remote = JobLock(store.engine, "j", ttl=0.5, owner="other-host:1234:cafe")
    remote.acquire()
    mine = JobLock(store.engine, "j", ttl=0.5)
    with pytest.raises(JobLocked):
        mine.acquire()
    deadline = time.monotonic() + 5
    while True:  # the lease lapses 0.5 s after the last heartbeat
        try:
            mine.acquire()
            break
        except JobLocked:
            assert time.monotonic() < deadline
            time.sleep(0.1)
    with pytest.raises(JobLockLost):  # a late heartbeat of the old holder does not take it back
        remote.heartbeat()
    with pytest.raises(JobLocked):
        JobLock(store.engine, "j", ttl=60, owner="third:1:x").acquire()


def test_expiry_is_the_holders_ttl_not_the_takers(store: DocumentStore) -> None:
    JobLock(store.engine, "j", ttl=3600, owner="other-host:1:cafe").acquire()
    time.sleep(0.3)
    with pytest.raises(JobLocked, match=r"in 3[0-9]{3} s"):
        JobLock(store.engine, "j", ttl=0.1).acquire()  # impatient, but not the judge


def test_a_run_that_lost_its_lease_commits_nothing(store: DocumentStore) -> None:
    store.add_urls("j", ["http://x/a", "http://x/b"])
    stalled = JobLock(store.engine, "j", ttl=0.2)
    first_token = stalled.acquire()
    time.sleep(0.4)  # no heartbeat: the lease lapses on the database's clock
    taker = JobLock(store.engine, "j", ttl=60, owner="other-host:1:beef")
    assert taker.acquire() == first_token + 1
    with pytest.raises(JobLockLost):
        store.commit_batch("j", [], [_failure("http://x/a")], lease=stalled)
    assert store.url_states("j")["http://x/a"] == ("pending", None)  # rolled back
    store.commit_batch("j", [], [_failure("http://x/b")], lease=taker)
    assert store.url_states("j")["http://x/b"] == ("failed", "HTTPStatus")


def _failure(url: str) -> Failure:
    return Failure(url=url, stage="crawl", error_type="HTTPStatus", message="404", retryable=False)


def test_an_unknown_job_cannot_be_locked(store: DocumentStore) -> None:
    with pytest.raises(JobLocked, match="does not exist"):
        JobLock(store.engine, "nope", ttl=60).acquire()
