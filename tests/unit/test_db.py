"""The shared insert helpers on a real SQLite file and, where marked, a real PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from quarrycore.db import (
    SQLITE_BULK_CACHE_KIB,
    SQLITE_CACHE_KIB,
    bulk_cache,
    insert_missing,
    make_engine,
    upsert,
)
from quarrycore.store.schema import job_urls, metadata

COLUMNS = ("job_id", "url_key", "url", "seq", "state", "stage", "updated_at", "host")


def _rows(job_id: str, when: datetime) -> list[tuple[object, ...]]:
    return [
        (job_id, "k1", "http://a.test/1", 1, "pending", None, when, "a.test"),
        (job_id, "k2", "http://a.test/2", 2, "failed", "validate", when, "a.test"),
        (job_id, "k3", "http://b.test/3", 3, "pending", None, when + timedelta(seconds=1), None),
    ]


def _read(engine: sa.Engine, job_id: str) -> list[tuple[object, ...]]:
    columns = [job_urls.c[name] for name in COLUMNS]
    query = sa.select(*columns).where(job_urls.c.job_id == job_id).order_by(job_urls.c.seq)
    with engine.connect() as conn:
        return [tuple(row) for row in conn.execute(query).all()]


def test_insert_missing_stores_what_upsert_stores_and_skips_known_keys(store_url: str) -> None:
    engine = make_engine(store_url)
    metadata.create_all(engine)
    when = datetime(2026, 12, 4, 13, 0, 0, 123456, tzinfo=UTC)
    with engine.begin() as conn:
        insert_missing(conn, job_urls, COLUMNS, _rows("fast", when), keys=["job_id", "url_key"])
        rows = [dict(zip(COLUMNS, row, strict=True)) for row in _rows("sqla", when)]
        upsert(conn, job_urls, rows, keys=["job_id", "url_key"])
    fast, sqla = _read(engine, "fast"), _read(engine, "sqla")
    assert [row[1:] for row in fast] == [row[1:] for row in sqla]  # timestamps included
    assert fast[2][6] is not None and fast[2][6] != fast[0][6]  # each row its own value
    # A known key keeps its row; a new one in the same call is added.
    later = datetime(2027, 1, 1, tzinfo=UTC)
    again = [("fast", "k1", "http://changed/", 9, "stored", None, later, "x"),
             ("fast", "k4", "http://c.test/4", 4, "pending", None, later, "c.test")]  # fmt: skip
    with engine.begin() as conn:
        insert_missing(conn, job_urls, COLUMNS, again, keys=["job_id", "url_key"])
    after = _read(engine, "fast")
    assert after[:3] == fast and [row[1] for row in after] == ["k1", "k2", "k3", "k4"]
    engine.dispose()


def test_a_bulk_write_gets_the_larger_sqlite_cache_and_gives_it_back(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'cache.db'}")

    def cache_kib(conn: sa.Connection) -> int:
        return int(conn.exec_driver_sql("PRAGMA cache_size").scalar_one())

    with engine.begin() as conn:
        assert cache_kib(conn) == SQLITE_CACHE_KIB
        with bulk_cache(conn):
            assert cache_kib(conn) == SQLITE_BULK_CACHE_KIB
        assert cache_kib(conn) == SQLITE_CACHE_KIB
    with pytest.raises(RuntimeError), engine.begin() as conn, bulk_cache(conn):
        raise RuntimeError("the write failed")
    with engine.connect() as conn:  # the pool's connection, after the failed write
        assert cache_kib(conn) == SQLITE_CACHE_KIB
    engine.dispose()
