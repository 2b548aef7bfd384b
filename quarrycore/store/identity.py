"""The ``store_meta`` table: this store's identity, a UUID written once.

A checkpoint records the store it mirrors by this id, so a resume can tell "this store,
reached by another URL" from "another store that happens to have the same URL" (the
default ``sqlite:///quarry.db`` on another machine).
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa

from quarrycore.db import upsert
from quarrycore.store.schema import store_meta

_KEY = "store_id"


def store_id(conn: sa.Connection) -> str:
    """The store's id, written the first time it is asked for (the first writer wins)."""
    upsert(conn, store_meta, [{"key": _KEY, "value": str(uuid.uuid4())}], keys=["key"])
    value: str = conn.execute(
        sa.select(store_meta.c.value).where(store_meta.c.key == _KEY)
    ).scalar_one()
    return value
