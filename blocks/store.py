"""The store's database URL kept in a Prefect block (prefect-sqlalchemy's
``SqlAlchemyConnector``).

A deployment's parameters are shown in the UI and returned by the API, and so would be
a password inside ``database_url``. A connector block keeps the password as a secret on
the Prefect server; each worker resolves it when a run starts, so a flow run's
parameters name only the block.
"""

from __future__ import annotations

import sqlalchemy as sa
from prefect_sqlalchemy import ConnectionComponents, SqlAlchemyConnector

from quarrycore.exceptions import ConfigError


def connector_for(url: str) -> SqlAlchemyConnector:
    """A connector block for ``url``, its password held as a secret."""
    try:
        parsed = sa.engine.make_url(url)
    except sa.exc.ArgumentError as exc:
        raise ConfigError(f"malformed database URL {url!r}") from exc
    components = ConnectionComponents(
        driver=parsed.drivername,
        username=parsed.username,
        password=parsed.password,  # pydantic makes it a SecretStr
        host=parsed.host,
        port=parsed.port,
        database=parsed.database,
        query={k: str(v) for k, v in parsed.query.items()} or None,
    )
    try:
        return SqlAlchemyConnector(connection_info=components)
    except ValueError as exc:  # e.g. an async driver: the store's engine is synchronous
        raise ConfigError(f"unusable database URL for the store: {exc}") from exc


async def url_from_block(name: str) -> str:
    """The full URL (password included) of the connector block ``name``."""
    try:
        block = await SqlAlchemyConnector.aload(name)
    except ValueError as exc:
        raise ConfigError(f"no SqlAlchemyConnector block named {name!r}: {exc}") from exc
    info = block.connection_info
    url = info.create_url() if isinstance(info, ConnectionComponents) else sa.make_url(str(info))
    return url.render_as_string(hide_password=False)


async def store_url(database_url: str | None, database_block: str | None) -> str | None:
    """The URL a flow's ``database_url`` and ``database_block`` parameters name; the block
    wins (a deployment's default ``database_url`` stays in its parameters)."""
    if not database_block:
        return database_url
    return await url_from_block(database_block)
