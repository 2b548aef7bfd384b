"""End-to-end fixtures: a Prefect test server for the session, the local sites."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.sites import trouble_routes
from tests.support.siteserver import Response, SiteServer


@pytest.fixture(scope="session", autouse=True)
def prefect_server() -> Iterator[None]:
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=90):
        yield


@pytest.fixture
def article_routes(benchmark_pages: dict[str, tuple[bytes, str]]) -> dict[str, Response]:
    """Twenty real article pages at /articles/<name>.html."""
    names = sorted(benchmark_pages)[:20]
    return {
        f"/articles/{name}.html": Response(
            200, benchmark_pages[name][0], {"Content-Type": "text/html; charset=utf-8"}
        )
        for name in names
    }


@pytest.fixture
def trouble_site(
    article_routes: dict[str, Response], benchmark_pages: dict[str, tuple[bytes, str]]
) -> Iterator[SiteServer]:
    # Articles of their own (not among the 20 above): the same text twice is a duplicate.
    others = [benchmark_pages[name][0] for name in sorted(benchmark_pages)[20:24]]
    routes = {**article_routes, **trouble_routes(others, slow_seconds=3.0)}
    with SiteServer(routes) as server:
        for path, route in routes.items():
            if isinstance(route, Response) and "{port}" in route.headers.get("Location", ""):
                location = route.headers["Location"].format(port=server.port)
                server.routes[path] = Response(route.status, route.body, {"Location": location})
        yield server
