"""Fixtures shared by every test: the local web site, benchmark pages, databases."""

from __future__ import annotations

import gzip
import json
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
# Every test site runs on 127.0.0.1, which the SSRF guard refuses by default; and they
# are our own servers, so no politeness delay. Tests of the guard and of the delays set
# these back explicitly.
os.environ.setdefault("QUARRY_ALLOW_PRIVATE_NETWORKS", "1")
os.environ.setdefault("QUARRY_PER_HOST_DELAY", "0")
os.environ.setdefault("QUARRY_PER_HOST_CONCURRENCY", "16")
os.environ.setdefault("QUARRY_BREAKER_COOLDOWN", "0.5")
# The test sites' generated pages are short and repetitive by construction; the quality
# filters are tested on their own (tests/unit/test_filters.py) and end to end where
# the tests turn them on (test_pipeline, test_cli).
os.environ.setdefault("QUARRY_QUALITY__ENABLED", "0")
os.environ.setdefault("QUARRY_QUALITY__NEAR_DEDUP", "0")  # generated pages differ by a number

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("QUARRY_SHARED_DIR", ROOT.parent / "shared"))
BENCHMARK = SHARED / "corpora" / "article-extraction-benchmark"
POSTGRES_ADMIN_URL = os.environ.get(
    "QUARRY_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


def load_benchmark(limit: int | None = None) -> dict[str, tuple[bytes, str]]:
    """Benchmark pages as {name: (html bytes, ground-truth article body)}.

    Uses ../shared's 181 pages; without them, the 40 that the project ships."""
    if BENCHMARK.is_dir():
        truth = json.loads((BENCHMARK / "ground-truth.json").read_text(encoding="utf-8"))
        files = sorted((BENCHMARK / "html").glob("*.html.gz"))
    else:
        from quarrycore.demo import SAMPLE_PAGES

        truth = {}
        files = sorted(Path(str(SAMPLE_PAGES)).glob("*.html.gz"))
    pages: dict[str, tuple[bytes, str]] = {}
    for file in files[:limit]:
        name = file.name.removesuffix(".html.gz")
        pages[name] = (
            gzip.decompress(file.read_bytes()),
            truth.get(name, {}).get("articleBody", ""),
        )
    return pages


@pytest.fixture(autouse=True)
def _work_in_tmp_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Defaults such as quarry.db, dead_letter.db and checkpoints/ are relative to the
    working directory: keep each test's in its own."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="session")
def benchmark_pages() -> dict[str, tuple[bytes, str]]:
    return load_benchmark()


def require_benchmark() -> None:
    """Skip where ../shared's benchmark (with its ground truth) is absent, as on a user's
    machine; under QUARRY_REQUIRE_CORPUS=1 (as in CI) its absence is a failure."""
    if BENCHMARK.is_dir():
        return
    if os.environ.get("QUARRY_REQUIRE_CORPUS") == "1":
        pytest.fail(f"the extraction benchmark is required here but not at {BENCHMARK}")
    pytest.skip(f"the extraction benchmark (with ground truth) is not at {BENCHMARK}")


@pytest.fixture(scope="session")
def benchmark_with_truth() -> dict[str, tuple[bytes, str]]:
    """The benchmark pages with their ground truth (skipped where the corpus is absent)."""
    require_benchmark()
    return load_benchmark()


def _postgres_available() -> str | None:
    try:
        import sqlalchemy as sa

        engine = sa.create_engine(POSTGRES_ADMIN_URL, connect_args={"connect_timeout": 3})
        with engine.connect():
            pass
        engine.dispose()
        return None
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}".splitlines()[0]


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database; skipped where none runs, unless
    QUARRY_REQUIRE_POSTGRES=1 (as in CI), where its absence is a failure."""
    import sqlalchemy as sa

    problem = _postgres_available()
    if problem is not None:
        if os.environ.get("QUARRY_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"PostgreSQL is required here but unreachable: {problem}")
        pytest.skip(f"no PostgreSQL at {POSTGRES_ADMIN_URL}: {problem}")
    name = f"quarry_test_{secrets.token_hex(4)}"
    admin = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("QUARRY_RUN_SLOW") == "1":
        return
    skip = pytest.mark.skip(reason="slow: set QUARRY_RUN_SLOW=1 to run")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The store's URL: a SQLite file, then (where marked) a fresh PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
    else:
        yield request.getfixturevalue("postgres_url")
