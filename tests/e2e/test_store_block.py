"""The store's URL in a prefect-sqlalchemy connector block, against the Prefect test
server: the password stays a secret, and a flow run given the block stores there."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from prefect.client.orchestration import get_client

from quarrycore.blocks.store import connector_for, url_from_block
from quarrycore.exceptions import ConfigError
from quarrycore.flows.crawl import quarry_crawl
from quarrycore.store import DocumentStore
from tests.support.sites import HTML
from tests.support.siteserver import Response, SiteServer


async def test_the_password_is_a_secret_on_the_server_and_the_url_comes_back() -> None:
    url = "postgresql+psycopg2://quarry:s3cret@db.example:5433/corpus?sslmode=require"
    await connector_for(url).asave("store-secret", overwrite=True)

    assert await url_from_block("store-secret") == url
    async with get_client() as client:
        document = await client.read_block_document_by_name(
            "store-secret", block_type_slug="sqlalchemy-connector", include_secrets=False
        )
    assert "s3cret" not in document.model_dump_json()
    assert document.data["connection_info"]["username"] == "quarry"


def test_an_async_driver_is_a_clear_error() -> None:
    # The store's engine is synchronous; prefect-sqlalchemy's sync connector refuses it.
    with pytest.raises(ConfigError, match="async driver"):
        connector_for("postgresql+asyncpg://u:p@h/db")


async def test_an_unknown_block_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="no SqlAlchemyConnector block named 'nope'"):
        await url_from_block("nope")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url_with_password(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'blocked.db'}"
    # Trust authentication ignores the password; it is there to be kept out of sight.
    url: str = request.getfixturevalue("postgres_url")
    return url.replace("postgres@", "postgres:s3cret@", 1)


async def test_a_flow_run_given_the_block_stores_there_and_shows_no_url(
    store_url_with_password: str, benchmark_pages: dict[str, tuple[bytes, str]], tmp_path: Path
) -> None:
    block = f"store-{uuid.uuid4().hex[:8]}"
    await connector_for(store_url_with_password).asave(block)
    articles = [html for html, _ in list(benchmark_pages.values())[:3]]
    routes = {f"/a{i}.html": Response(200, html, HTML) for i, html in enumerate(articles)}
    with SiteServer(routes) as site:
        result = await quarry_crawl(
            urls=[site.url(path) for path in routes],
            job_id="via-block",
            database_block=block,
            options={
                "extract_workers": 0,
                "data_dir": str(tmp_path / "data"),
                "dead_letter_url": f"sqlite:///{tmp_path / 'dead_letter.db'}",
            },
        )

    assert result.stored_count == 3
    store = DocumentStore(store_url_with_password)
    assert len(list(store.iter_documents("via-block"))) == 3
    store.close()
    assert not (tmp_path / "quarry.db").exists()  # not the default store
    assert result.flow_run_id is not None
    async with get_client() as client:
        run = await client.read_flow_run(uuid.UUID(result.flow_run_id))
    assert run.parameters["database_block"] == block
    database = sa.make_url(store_url_with_password).database
    assert database is not None
    assert database not in str(run.parameters)
