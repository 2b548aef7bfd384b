"""The ``jobs`` table: one row a job (status, settings) and the lease of the run that
holds it. Every statement on ``jobs`` is in this module.

One live run per job: the holder renews its lease (a heartbeat) while it runs. Another
run may take it when the lease is older than its time to live, or at once when the
holder was a process of this machine that no longer exists (``kill -9`` leaves no stuck
lock).
"""

from __future__ import annotations

import os
import secrets
import socket
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from quarrycore.db import upsert
from quarrycore.exceptions import JobLocked
from quarrycore.store.schema import jobs


def job_exists(conn: sa.Connection, job_id: str) -> bool:
    return conn.execute(sa.select(jobs.c.job_id).where(jobs.c.job_id == job_id)).first() is not None


def start_job(conn: sa.Connection, job_id: str, settings: dict[str, Any]) -> None:
    """Create the job's row (its settings kept from the first run) or mark it running."""
    now = datetime.now(UTC)
    row = {"job_id": job_id, "status": "running", "created_at": now, "updated_at": now}
    upsert(
        conn,
        jobs,
        [{**row, "settings": settings}],
        keys=["job_id"],
        update=["status", "updated_at"],
    )


def set_job_status(conn: sa.Connection, job_id: str, status: str) -> None:
    conn.execute(
        jobs.update()
        .where(jobs.c.job_id == job_id)
        .values(status=status, updated_at=datetime.now(UTC))
    )


def job_settings(conn: sa.Connection, job_id: str) -> dict[str, Any]:
    value = conn.execute(
        sa.select(jobs.c.settings).where(jobs.c.job_id == job_id)
    ).scalar_one_or_none()
    return dict(value or {})


def job_status(conn: sa.Connection, job_id: str) -> str | None:
    status: str | None = conn.execute(
        sa.select(jobs.c.status).where(jobs.c.job_id == job_id)
    ).scalar_one_or_none()
    return status


def job_ids(conn: sa.Connection) -> list[str]:
    return list(conn.execute(sa.select(jobs.c.job_id).order_by(jobs.c.created_at)).scalars())


# -- the lease ------------------------------------------------------------------------


def new_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


def _holder_is_dead(owner: str) -> bool:
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


class JobLock:
    """The lease of one job in one store."""

    def __init__(self, engine: Engine, job_id: str, *, ttl: float, owner: str | None = None):
        self._engine = engine
        self.job_id = job_id
        self.ttl = ttl
        self.owner = owner or new_owner()

    def acquire(self) -> None:
        now = datetime.now(UTC)
        with self._engine.begin() as conn:
            holder = conn.execute(
                sa.select(jobs.c.lock_owner, jobs.c.lock_heartbeat).where(
                    jobs.c.job_id == self.job_id
                )
            ).one_or_none()
            if holder is None:
                raise JobLocked(f"job {self.job_id!r} does not exist")
            owner, heartbeat = holder
            if heartbeat is not None and heartbeat.tzinfo is None:
                heartbeat = heartbeat.replace(tzinfo=UTC)  # SQLite returns naive times
            free = (
                owner is None
                or owner == self.owner
                or heartbeat is None
                or now - heartbeat > timedelta(seconds=self.ttl)
                or _holder_is_dead(owner)
            )
            if not free:
                raise JobLocked(
                    f"job {self.job_id!r} is being run by {owner} (last seen "
                    f"{heartbeat:%Y-%m-%d %H:%M:%S} UTC); wait for it to finish, or for "
                    f"its lease to expire {self.ttl:g} s after it stopped"
                )
            # Compare-and-set, so two runs that both saw the lock free cannot both win.
            taken = conn.execute(
                jobs.update()
                .where(jobs.c.job_id == self.job_id, _same_owner(owner))
                .values(lock_owner=self.owner, lock_heartbeat=now)
            ).rowcount
            if taken != 1:
                raise JobLocked(f"job {self.job_id!r} was taken by another run just now")

    def heartbeat(self) -> None:
        with self._engine.begin() as conn:
            conn.execute(
                jobs.update()
                .where(jobs.c.job_id == self.job_id, jobs.c.lock_owner == self.owner)
                .values(lock_heartbeat=datetime.now(UTC))
            )

    def release(self) -> None:
        with self._engine.begin() as conn:
            conn.execute(
                jobs.update()
                .where(jobs.c.job_id == self.job_id, jobs.c.lock_owner == self.owner)
                .values(lock_owner=None, lock_heartbeat=None)
            )


def _same_owner(owner: str | None) -> sa.ColumnElement[bool]:
    return jobs.c.lock_owner.is_(None) if owner is None else jobs.c.lock_owner == owner
