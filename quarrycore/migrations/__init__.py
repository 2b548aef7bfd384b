"""Versioned schema migrations (Alembic) of the document store and of the dead letters.

Each database line has its revisions (``store_versions/``, ``dead_letter_versions/``) and
its own version table (``quarry_store_version``, ``quarry_dead_letter_version``), so both
can live in one database. Every open of a store brings it to the newest revision:

- several processes opening one store at once are safe: on PostgreSQL the upgrade runs
  in one transaction under an advisory lock (DDL is transactional there: a second
  process waits, then finds the store at the head); on SQLite a race is tried again;
- a store already at the head costs one query (no revision file is read);
- the first revision adopts the stores made before versioning: it creates what is
  missing and adds the nullable columns later versions added, then stamps the store.

A schema change is a new revision file (``op.add_column`` ...) next to the change of the
table in ``store/schema.py``; a test compares the migrated database with the tables.
"""

from __future__ import annotations

import random
import threading
import time
import zlib
from functools import cache
from pathlib import Path
from typing import Any, Literal

import sqlalchemy as sa
from alembic.config import Config
from alembic.runtime.environment import EnvironmentContext
from alembic.script import ScriptDirectory

from quarrycore.exceptions import ConfigError

Line = Literal["store", "dead_letters"]
_HERE = Path(__file__).parent
_VERSIONS = {"store": "store_versions", "dead_letters": "dead_letter_versions"}
# Alembic's ``op`` and ``context`` are module-wide proxies: one migration at a time in a
# process (threads opening stores at once broke each other's run).
_ONE_AT_A_TIME = threading.Lock()
VERSION_TABLES = {"store": "quarry_store_version", "dead_letters": "quarry_dead_letter_version"}


@cache
def _script(line: Line) -> ScriptDirectory:
    return ScriptDirectory(str(_HERE), version_locations=[str(_HERE / _VERSIONS[line])])


@cache
def head(line: Line) -> str:
    """The newest revision of ``line``."""
    found = _script(line).get_current_head()
    assert found is not None, f"no revisions for {line}"
    return found


def current(conn: sa.Connection, line: Line) -> str | None:
    """The revision the database is at (None: not versioned yet)."""
    table = VERSION_TABLES[line]
    if not sa.inspect(conn).has_table(table):
        return None
    return conn.execute(sa.text(f"SELECT version_num FROM {table}")).scalar()


def upgrade(engine: sa.Engine, line: Line) -> None:
    """Bring the database of ``engine`` to the newest revision of ``line``."""
    with engine.connect() as conn:
        if current(conn, line) == head(line):
            return
    attempts = 6
    for attempt in range(attempts):
        try:
            with _ONE_AT_A_TIME, engine.begin() as conn:
                if conn.dialect.name == "postgresql":
                    key = zlib.crc32(f"quarry-migrations:{line}".encode())
                    conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
                _run(conn, line)
            return
        except (sa.exc.IntegrityError, sa.exc.OperationalError, sa.exc.ProgrammingError):
            if attempt == attempts - 1:
                raise  # not a race with another process: a real problem
            # SQLite's DDL is not transactional here: another process may be half-way
            # through the same revision. Let it finish, then look again.
            time.sleep(random.uniform(0.05, 0.2) * (attempt + 1))


def _run(conn: sa.Connection, line: Line) -> None:
    script = _script(line)
    at = current(conn, line)
    if at is not None and at not in {rev.revision for rev in script.walk_revisions()}:
        raise ConfigError(
            f"the database is at schema revision {at!r}, which this version of QuarryCore "
            "does not know (a newer version wrote it): upgrade QuarryCore"
        )

    def upgrade_revisions(rev: Any, context: Any) -> Any:
        return script._upgrade_revs(head(line), rev)

    config = Config()
    config.set_main_option("script_location", str(_HERE))
    with EnvironmentContext(
        config, script, fn=upgrade_revisions, destination_rev=head(line)
    ) as env:
        env.configure(
            connection=conn,
            version_table=VERSION_TABLES[line],
            transactional_ddl=conn.dialect.name == "postgresql",
        )
        env.run_migrations()


def add_missing_columns(conn: sa.Connection, metadata: sa.MetaData) -> None:
    """Create ``metadata``'s missing tables, and add the nullable columns missing from
    existing ones (older rows stay valid: ``NULL``): how stores were upgraded before
    migrations were versioned, kept for the first revision that adopts them."""
    metadata.create_all(conn)
    inspector = sa.inspect(conn)
    for table in metadata.sorted_tables:
        present = {column["name"] for column in inspector.get_columns(table.name)}
        for column in table.columns:
            if column.name in present or not column.nullable:
                continue
            kind = column.type.compile(dialect=conn.dialect)
            conn.execute(sa.text(f'ALTER TABLE {table.name} ADD COLUMN "{column.name}" {kind}'))
