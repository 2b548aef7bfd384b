"""Versioned migrations: a new store is at the head with exactly the tables the code
uses; a store made before versioning (and before fan-out) is adopted and upgraded with
its rows; a store written by a newer version is refused with a clear error."""

from __future__ import annotations

from datetime import UTC, datetime
from importlib import util
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from quarrycore import migrations
from quarrycore.deadletters import DeadLetterStore
from quarrycore.deadletters.schema import dl_metadata
from quarrycore.exceptions import ConfigError
from quarrycore.store import DocumentStore
from quarrycore.store.schema import metadata


def _diff(url: str, tables: sa.MetaData) -> list[object]:
    """What differs between the database and ``tables``, about those tables only."""
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.connect() as conn:
        found = compare_metadata(MigrationContext.configure(conn), tables)
    engine.dispose()

    def table_of(diff: object) -> str | None:
        item = diff[0] if isinstance(diff, list) else diff
        for part in item[1:]:  # type: ignore[index]
            if isinstance(part, sa.Table):
                return part.name
            if isinstance(part, sa.Index) and part.table is not None:
                return part.table.name
            if isinstance(part, str):
                return part
        return None

    return [d for d in found if table_of(d) in tables.tables]


def test_a_new_store_is_at_the_head_with_the_tables_the_code_uses(store_url: str) -> None:
    DocumentStore(store_url).close()
    DeadLetterStore(store_url).engine.dispose()
    assert _diff(store_url, metadata) == []
    assert _diff(store_url, dl_metadata) == []
    engine = sa.create_engine(store_url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.connect() as conn:
        assert migrations.current(conn, "store") == migrations.head("store") == "0003_intake_marker"
        assert migrations.current(conn, "dead_letters") == "0001_dead_letter_baseline"
    engine.dispose()


def _baseline_tables() -> sa.MetaData:
    path = Path(migrations.__file__).parent / "store_versions" / "0001_store_baseline.py"
    spec = util.spec_from_file_location("baseline", path)
    assert spec is not None and spec.loader is not None
    module = util.module_from_spec(spec)
    spec.loader.exec_module(module)
    tables: sa.MetaData = module.metadata
    return tables


def test_a_store_from_before_versioning_is_adopted_and_upgraded(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = sa.create_engine(url)
    old = _baseline_tables()
    # Older still: made before revisits kept their visit round.
    old.tables["job_urls"]._columns.remove(old.tables["job_urls"].c.visit_run)
    now = datetime.now(UTC)
    with engine.begin() as conn:
        old.create_all(conn)
        conn.execute(
            old.tables["jobs"].insert(),
            [
                {
                    "job_id": "j",
                    "status": "completed",
                    "created_at": now,
                    "updated_at": now,
                    "settings": {},
                }
            ],
        )
        conn.execute(
            old.tables["job_urls"].insert(),
            [
                {
                    "job_id": "j",
                    "url_key": f"k{i}",
                    "url": f"http://a/{i}",
                    "seq": i,
                    "state": "pending" if i % 2 else "failed",
                    "updated_at": now,
                }
                for i in range(6)
            ],
        )
    engine.dispose()
    store = DocumentStore(url)
    try:
        counts = store.counts("j")
        assert (counts.pending, counts.failed) == (3, 3)
        assert store.shards.split("j", 2) == {0: 3, 1: 0}  # the new columns work
        with store.engine.connect() as conn:
            assert migrations.current(conn, "store") == migrations.head("store")
            columns = {c["name"] for c in sa.inspect(conn).get_columns("job_urls")}
        assert {"visit_run", "host"} <= columns
    finally:
        store.close()
    assert _diff(url, metadata) == []


def test_a_store_written_by_a_newer_version_is_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'new.db'}"
    DocumentStore(url).close()
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE quarry_store_version SET version_num = '0099_future'"))
    engine.dispose()
    with pytest.raises(ConfigError, match=r"0099_future.*newer version"):
        DocumentStore(url)
