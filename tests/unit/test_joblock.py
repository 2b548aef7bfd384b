"""One live run per job: the lease in the store, on real SQLite and PostgreSQL."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from quarrycore.exceptions import JobLocked
from quarrycore.store import DocumentStore, JobLock


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
    import socket

    ghost = JobLock(
        store.engine, "j", ttl=3600, owner=f"{socket.gethostname()}:{dead.stdout.strip()}:deadbeef"
    )
    ghost.acquire()
    JobLock(store.engine, "j", ttl=3600).acquire()  # the holder's process is gone


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
    remote.heartbeat()  # a late heartbeat of the old holder does not take it back
    with pytest.raises(JobLocked):
        JobLock(store.engine, "j", ttl=60, owner="third:1:x").acquire()


def test_an_unknown_job_cannot_be_locked(store: DocumentStore) -> None:
    with pytest.raises(JobLocked, match="does not exist"):
        JobLock(store.engine, "nope", ttl=60).acquire()
