"""Engines and dialect-aware upserts shared by the two stores (the document
store and the dead letters), which are otherwise independent."""

from __future__ import annotations

import random
import sqlite3
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

from quarrycore.credentials import mask_url
from quarrycore.exceptions import ConfigError

# SQLite's page cache, per connection, in KiB (negative: a size, not pages; SQLite's
# default is 2 MiB). With 64 MiB in each of its pooled connections the flow process grew
# from 395 to 586 MB over 60,000 pages of a 300,000-URL job (bench/scale.py); at 16 MiB
# (and batches passed to tasks opaque, measured together) 303 to 325 MB. A bulk
# registration gets more for its own transaction (bulk_cache).
SQLITE_CACHE_KIB = -16_384
SQLITE_BULK_CACHE_KIB = -65_536
# How long a SQLite connection waits for another's write lock before "database is locked".
SQLITE_BUSY_TIMEOUT_S = 30
# Below this many rows a look-up that reads a whole job costs little (refresh_statistics).
_ANALYZE_FROM_ROWS = 10_000


@contextmanager
def bulk_cache(conn: sa.Connection) -> Iterator[None]:
    """A larger SQLite page cache for one bulk write (random keys into a large index),
    given back after it (SQLite frees the pages over the smaller size); a no-op elsewhere."""
    if conn.dialect.name != "sqlite":
        yield
        return
    conn.exec_driver_sql(f"PRAGMA cache_size={SQLITE_BULK_CACHE_KIB}")
    try:
        yield
    finally:
        # Not over the write's own error: a connection left with the larger cache is
        # only larger.
        with suppress(sa.exc.DBAPIError):
            conn.exec_driver_sql(f"PRAGMA cache_size={SQLITE_CACHE_KIB}")


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite files get WAL, a busy timeout and their directory;
    PostgreSQL goes through psycopg 3 unless the URL names another driver."""
    try:
        parsed = sa.engine.make_url(url)
    except (ArgumentError, ValueError) as exc:  # ValueError: a port that is not a number
        raise ConfigError(f"malformed database URL {mask_url(url)!r}") from exc
    connect_args: dict[str, Any] = {}
    if parsed.drivername == "postgresql":
        # psycopg 3, not SQLAlchemy's default psycopg2 (postgresql+psycopg2:// still
        # chooses it where it is installed).
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.drivername == "postgresql+psycopg":
        # No server-side prepared statements: after five runs psycopg 3 prepares a query,
        # and PostgreSQL's generic plan for a long `url_key IN (...)` scanned the table
        # once per item (54 s for 5,000 keys on a fresh table).
        connect_args["prepare_threshold"] = None
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        connect_args["timeout"] = SQLITE_BUSY_TIMEOUT_S
    try:
        engine = sa.create_engine(parsed, connect_args=connect_args, pool_pre_ping=True)
    except (NoSuchModuleError, ImportError) as exc:
        raise ConfigError(f"no driver for database URL {mask_url(url)!r}: {exc}") from exc
    if engine.dialect.name == "sqlite":
        sa.event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_S * 1000}")
    # WAL lets readers (status, progress) run while the pipeline writes.
    _switch_to_wal(cursor)
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA cache_size={SQLITE_CACHE_KIB}")
    cursor.close()


def _switch_to_wal(cursor: Any) -> None:
    """Put the file in WAL mode (kept in the file: a no-op once done). Connections that
    open a new file at once race to switch it, and SQLite answers the loser "database is
    locked" at once, without its busy handler (8 of 100 fresh files opened by four threads
    at once): the switch is tried again until the busy timeout."""
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_S
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            # SQLITE_BUSY or one of its extended codes (the low byte is the primary code).
            busy = getattr(exc, "sqlite_errorcode", 0) & 0xFF == sqlite3.SQLITE_BUSY
            if not busy or time.monotonic() > deadline:
                raise
            time.sleep(random.uniform(0.005, 0.05))


def db_epoch(dialect: str) -> sa.ColumnElement[float]:
    """Now, in seconds since the epoch, on the database's clock (not this machine's)."""
    if dialect == "postgresql":
        return sa.cast(sa.func.extract("epoch", sa.func.clock_timestamp()), sa.Float)
    if dialect == "sqlite":
        # julianday('now') is UTC with millisecond precision.
        return (sa.func.julianday("now") - 2440587.5) * 86400.0
    return sa.cast(sa.func.extract("epoch", sa.func.current_timestamp()), sa.Float)


def fit(table: sa.Table, row: Mapping[str, Any]) -> dict[str, Any]:
    """``row`` with each string cut to its column's length: PostgreSQL refuses a longer
    value (a ``DataError`` that would fail the whole batch), where SQLite keeps it."""
    fitted = dict(row)
    for name, value in row.items():
        column = table.c.get(name)
        length = getattr(column.type, "length", None) if column is not None else None
        if isinstance(value, str) and length is not None and len(value) > length:
            fitted[name] = value[:length]
    return fitted


def insert_missing(
    conn: sa.Connection,
    table: sa.Table,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    keys: Sequence[str],
) -> None:
    """Insert ``rows`` (values in the order of ``columns``), skipping a row whose ``keys``
    the table has. On SQLite the rows go to the driver as they are, each value through its
    column type's bind processor: SQLAlchemy's per-row parameter handling was half of the
    time to register a million URLs. On PostgreSQL they are copied in (:func:`_copy_in`).
    Other databases go through :func:`upsert`."""
    if not rows:
        return
    if conn.dialect.name == "postgresql" and conn.dialect.driver == "psycopg":
        _copy_in(conn, table, columns, rows, keys=keys)
        return
    if conn.dialect.name != "sqlite":
        upsert(conn, table, [dict(zip(columns, row, strict=True)) for row in rows], keys=keys)
        return
    quote = conn.dialect.identifier_preparer.quote
    sql = (
        f"INSERT INTO {quote(table.name)} ({', '.join(quote(c) for c in columns)}) "
        f"VALUES ({', '.join('?' for _ in columns)}) "
        f"ON CONFLICT ({', '.join(quote(k) for k in keys)}) DO NOTHING"
    )
    processors = [
        (i, process)
        for i, name in enumerate(columns)
        if (process := _bind_processor(table.c[name].type, conn.dialect)) is not None
    ]
    if processors:
        rows = _processed(rows, processors)
    conn.exec_driver_sql(sql, list(rows))


def _copy_in(
    conn: sa.Connection,
    table: sa.Table,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    keys: Sequence[str],
) -> None:
    """PostgreSQL: COPY the rows into a temporary table of the same shape, then one
    ``INSERT … SELECT … ON CONFLICT DO NOTHING``. The same rows as one ``INSERT … ON
    CONFLICT`` each (psycopg's executemany) took most of 109 s for a million URLs. The
    temporary table lives in this connection's session, emptied after each use and at
    every commit; it is in the caller's transaction like the rest."""
    quote = conn.dialect.identifier_preparer.quote
    staging = quote(f"staging_{table.name}")
    names = ", ".join(quote(c) for c in columns)
    conn.exec_driver_sql(
        f"CREATE TEMPORARY TABLE IF NOT EXISTS {staging} "
        f"(LIKE {quote(table.name)} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
    )
    with (
        conn.connection.dbapi_connection.cursor() as cursor,  # type: ignore[union-attr]
        cursor.copy(f"COPY {staging} ({names}) FROM STDIN") as copy,
    ):
        for row in rows:
            copy.write_row(row)
    conn.exec_driver_sql(
        f"INSERT INTO {quote(table.name)} ({names}) SELECT {names} FROM {staging} "
        f"ON CONFLICT ({', '.join(quote(k) for k in keys)}) DO NOTHING"
    )
    conn.exec_driver_sql(f"TRUNCATE {staging}")


def refresh_statistics(conn: sa.Connection, column: sa.Column[Any], value: Any, rows: int) -> None:
    """PostgreSQL: ANALYZE the column's table when ``rows`` of its rows have ``value`` (a
    job's URLs) and the planner believes fewer than half as many. A table grown by a bulk
    load waits a minute or more for autovacuum's ANALYZE, and a new job is not in the
    statistics at all until one: meanwhile the planner took a job of 1,000,000 URLs for
    317 rows and looked each chunk's keys up by reading the whole job (23 of the 40 s it
    took to register a million). Doubling bounds the ANALYZEs to a few per load."""
    if conn.dialect.name != "postgresql" or rows < _ANALYZE_FROM_ROWS:
        return
    query = sa.select(sa.literal(1)).select_from(column.table).where(column == value)
    compiled = query.compile(dialect=conn.dialect)
    plan = conn.exec_driver_sql(f"EXPLAIN (FORMAT JSON) {compiled}", compiled.params).scalar_one()
    believed = float(plan[0]["Plan"]["Plan Rows"])
    if rows > 2 * believed:
        table = conn.dialect.identifier_preparer.quote(column.table.name)
        conn.exec_driver_sql(f"ANALYZE {table}")


def one_of(column: sa.ColumnElement[Any], values: Sequence[Any], dialect: sa.Dialect) -> Any:
    """``column IN values``; on PostgreSQL ``= ANY(array)``, one parameter instead of one
    per value (a statement of 5,000 parameters is parsed and planned anew each time)."""
    if dialect.name == "postgresql":
        array = sa.bindparam(None, list(values), type_=postgresql.ARRAY(column.type))
        return column == sa.any_(array)
    return column.in_(list(values))


def _bind_processor(
    type_: sa.types.TypeEngine[Any], dialect: sa.Dialect
) -> Callable[[Any], Any] | None:
    return type_.dialect_impl(dialect).bind_processor(dialect)


def _processed(
    rows: Sequence[Sequence[Any]], processors: Sequence[tuple[int, Callable[[Any], Any]]]
) -> list[tuple[Any, ...]]:
    """The rows with their values processed for the driver; a value that is the same
    object as the row before's (one timestamp for a whole batch) is processed once."""
    last: dict[int, tuple[Any, Any]] = {}
    processed = []
    for row in rows:
        values = list(row)
        for i, process in processors:
            value = values[i]
            if value is None:
                continue
            seen = last.get(i)
            if seen is None or seen[0] is not value:
                seen = last[i] = (value, process(value))
            values[i] = seen[1]
        processed.append(tuple(values))
    return processed


def upsert(
    conn: sa.Connection,
    table: sa.Table,
    rows: Sequence[Mapping[str, Any]],
    *,
    keys: Sequence[str],
    update: Sequence[str] | None = None,
) -> None:
    """Insert ``rows``; on a key conflict update the ``update`` columns (or do nothing)."""
    if not rows:
        return
    dialect = conn.dialect.name
    if dialect in ("sqlite", "postgresql"):
        insert = sqlite.insert(table) if dialect == "sqlite" else postgresql.insert(table)
        if update:
            stmt = insert.on_conflict_do_update(
                index_elements=list(keys), set_={col: insert.excluded[col] for col in update}
            )
        else:
            stmt = insert.on_conflict_do_nothing(index_elements=list(keys))
        conn.execute(stmt, list(rows))
        return
    # Other databases: the portable, slower way, still inside the caller's transaction.
    for row in rows:
        where = sa.and_(*(table.c[k] == row[k] for k in keys))
        exists = conn.execute(sa.select(sa.literal(1)).select_from(table).where(where)).first()
        if exists is None:
            conn.execute(table.insert().values(**row))
        elif update:
            conn.execute(table.update().where(where).values(**{c: row[c] for c in update}))
