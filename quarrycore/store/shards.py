"""A job fanned out into shards: the ``job_hosts`` and ``job_shards`` tables. Every
statement on the two tables is in this module.

A shard is a set of hosts (``job_hosts``): a URL's shard is its host's (``job_urls.host``),
so one run at a time fetches from a host and its politeness limits hold across the whole
job, and no URL row is rewritten by a split. The split
balances the hosts' pending URLs over the shards (largest first, onto the lightest
shard); a link to a host the job has not seen gets a shard in the transaction that
enqueues it (``assign_hosts``), so it is picked up by that shard's run. Each shard has
its own lease (``jobs.JobLock`` with ``shard``), so shards of one job run at once, each
recoverable alone; dedup and ``max_pages`` stay the job's (one commit lock a job).
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa

from quarrycore.db import db_epoch, upsert
from quarrycore.exceptions import ConfigError
from quarrycore.store.jobs import holder_is_dead
from quarrycore.store.schema import PENDING, job_hosts, job_shards, job_urls, jobs
from quarrycore.urls import host_of

_CHUNK = 5000


@dataclass(frozen=True, slots=True)
class ShardState:
    """One shard as the store knows it: its URLs, and whether a live run holds it."""

    shard: int
    hosts: int
    pending: int
    done: int
    status: str
    flow_run_id: str | None
    runs: int
    held: bool  # a run holds its lease, not expired, not a dead process of this machine
    token: int | None  # the lease's fencing token: one more at every take


def shard_count(conn: sa.Connection, job_id: str) -> int | None:
    """Into how many shards the job is split (None: not split)."""
    value = conn.execute(sa.select(jobs.c.shards).where(jobs.c.job_id == job_id)).scalar()
    return int(value) if value else None


def split(conn: sa.Connection, job_id: str, shards: int) -> dict[int, int]:
    """Split the job into ``shards`` by host, balanced by pending URLs; a job split
    before keeps its split (a different count is refused: its hosts are in shards
    already). Only ``job_hosts`` is written: a URL's shard is its host's, so the split
    costs what the job's hosts cost, not its URLs. Returns each shard's pending URLs."""
    known = shard_count(conn, job_id)
    if known is not None and known != shards:
        raise ConfigError(
            f"job {job_id!r} was fanned out into {known} shards; resume it with {known}"
        )
    _fill_hosts(conn, job_id)
    pending = conn.execute(
        sa.select(job_urls.c.host, sa.func.count())
        .where(job_urls.c.job_id == job_id, job_urls.c.state == PENDING)
        .group_by(job_urls.c.host)
    ).all()
    if known is None:
        load = [0] * shards
        plan: list[dict[str, object]] = []
        for host, n in sorted(pending, key=lambda row: (-row[1], str(row[0]))):
            lightest = min(range(shards), key=lambda k: (load[k], k))
            load[lightest] += n
            plan.append({"job_id": job_id, "host": host, "shard": lightest})
        upsert(conn, job_hosts, plan, keys=["job_id", "host"])
        now = datetime.now(UTC)
        rows = [
            {"job_id": job_id, "shard": k, "status": "pending", "updated_at": now, "runs": 0}
            for k in range(shards)
        ]
        upsert(conn, job_shards, rows, keys=["job_id", "shard"])
        conn.execute(jobs.update().where(jobs.c.job_id == job_id).values(shards=shards))
    shard_of = assign_hosts(conn, job_id, [str(host) for host, _ in pending], shards)
    per_shard = dict.fromkeys(range(shards), 0)
    for host, n in pending:
        per_shard[shard_of[str(host)]] += int(n)
    return per_shard


def in_shard(job_id: str, shard: int) -> sa.ColumnElement[bool]:
    """The condition on ``job_urls`` rows of the job that keeps the shard's."""
    hosts = sa.select(job_hosts.c.host).where(
        job_hosts.c.job_id == job_id, job_hosts.c.shard == shard
    )
    return job_urls.c.host.in_(hosts)


def _fill_hosts(conn: sa.Connection, job_id: str) -> None:
    """Rows registered before hosts were kept get theirs (once, a chunk at a time)."""
    while True:
        rows = conn.execute(
            sa.select(job_urls.c.url_key, job_urls.c.url)
            .where(job_urls.c.job_id == job_id, job_urls.c.host.is_(None))
            .limit(_CHUNK)
        ).all()
        if not rows:
            return
        conn.execute(
            job_urls.update()
            .where(job_urls.c.job_id == job_id, job_urls.c.url_key == sa.bindparam("k"))
            .values(host=sa.bindparam("h")),
            [{"k": key, "h": host_key(url)} for key, url in rows],
        )


def host_key(url: str) -> str:
    """The URL's host[:port] as kept in ``job_urls.host`` (its politeness key)."""
    try:
        return host_of(url)[:255]
    except ValueError:  # an invalid input, failed at registration: a host of its own
        return ""


def assign_hosts(
    conn: sa.Connection, job_id: str, hosts: Iterable[str], shards: int
) -> dict[str, int]:
    """The shard of each host, new hosts given one (by a hash of the host: the same
    answer in every process, and a conflicting insert keeps the first)."""
    wanted = sorted(set(hosts))
    if not wanted:
        return {}
    rows = [{"job_id": job_id, "host": h, "shard": zlib.crc32(h.encode()) % shards} for h in wanted]
    upsert(conn, job_hosts, rows, keys=["job_id", "host"])
    found = conn.execute(
        sa.select(job_hosts.c.host, job_hosts.c.shard).where(
            job_hosts.c.job_id == job_id, job_hosts.c.host.in_(wanted)
        )
    ).all()
    return {host: int(shard) for host, shard in found}


def states(conn: sa.Connection, job_id: str) -> list[ShardState]:
    """Every shard of the job, in order."""
    by_shard: dict[int, dict[str, int]] = {}
    for shard, state, n in conn.execute(
        sa.select(job_hosts.c.shard, job_urls.c.state, sa.func.count())
        .select_from(
            job_urls.join(
                job_hosts,
                sa.and_(
                    job_hosts.c.job_id == job_urls.c.job_id, job_hosts.c.host == job_urls.c.host
                ),
            )
        )
        .where(job_urls.c.job_id == job_id)
        .group_by(job_hosts.c.shard, job_urls.c.state)
    ).all():
        entry = by_shard.setdefault(int(shard), {"pending": 0, "done": 0})
        entry["pending" if state == PENDING else "done"] += int(n)
    hosts: dict[int, int] = dict(
        conn.execute(
            sa.select(job_hosts.c.shard, sa.func.count())
            .where(job_hosts.c.job_id == job_id)
            .group_by(job_hosts.c.shard)
        ).all()
    )
    now = db_epoch(conn.dialect.name)
    rows = conn.execute(
        sa.select(job_shards, now.label("now"))
        .where(job_shards.c.job_id == job_id)
        .order_by(job_shards.c.shard)
    ).all()
    result = []
    for row in rows:
        counted = by_shard.get(row.shard, {"pending": 0, "done": 0})
        held = (
            row.lock_owner is not None
            and row.lock_expires is not None
            and row.lock_expires >= row.now
            and not holder_is_dead(row.lock_owner)
        )
        result.append(
            ShardState(
                shard=row.shard,
                hosts=int(hosts.get(row.shard, 0)),
                pending=counted["pending"],
                done=counted["done"],
                status=row.status,
                flow_run_id=row.flow_run_id,
                runs=int(row.runs or 0),
                held=held,
                token=row.lock_token,
            )
        )
    return result


def set_run(conn: sa.Connection, job_id: str, shard: int, flow_run_id: str | None) -> None:
    """Record the run just started for the shard (one more run of it)."""
    conn.execute(
        job_shards.update()
        .where(job_shards.c.job_id == job_id, job_shards.c.shard == shard)
        .values(
            flow_run_id=flow_run_id,
            runs=sa.func.coalesce(job_shards.c.runs, 0) + 1,
            status="running",
            updated_at=datetime.now(UTC),
        )
    )


def set_status(conn: sa.Connection, job_id: str, shard: int, status: str) -> None:
    conn.execute(
        job_shards.update()
        .where(job_shards.c.job_id == job_id, job_shards.c.shard == shard)
        .values(status=status, updated_at=datetime.now(UTC))
    )


class ShardBook:
    """The shard statements of one store, each in its own transaction."""

    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine

    def count(self, job_id: str) -> int | None:
        with self._engine.connect() as conn:
            return shard_count(conn, job_id)

    def split(self, job_id: str, shards: int) -> dict[int, int]:
        with self._engine.begin() as conn:
            return split(conn, job_id, shards)

    def states(self, job_id: str) -> list[ShardState]:
        with self._engine.connect() as conn:
            return states(conn, job_id)

    def set_run(self, job_id: str, shard: int, flow_run_id: str | None) -> None:
        with self._engine.begin() as conn:
            set_run(conn, job_id, shard, flow_run_id)

    def set_status(self, job_id: str, shard: int, status: str) -> None:
        with self._engine.begin() as conn:
            set_status(conn, job_id, shard, status)
