"""A Prefect server that other machines reach: HTTP Basic authentication.

One real `prefect server start` (on PostgreSQL) with ``PREFECT_SERVER_API_AUTH_STRING``;
the set-up script, the worker (and the flow runs it starts), `prefect deployment run`
and `quarry crawl` get only the client setting ``PREFECT_API_AUTH_STRING``, from their
environment: the secret is in no file, least of all one under version control.

The tests with the server are marked ``deployment`` like test_deployments.py (`pytest -m
"not deployment"` skips them); the static check of prefect.yaml and deployments/ is not."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from quarrycore.store import DocumentStore
from tests.conftest import POSTGRES_ADMIN_URL
from tests.e2e.jobs import numbered_site, quarry_env, run_quarry
from tests.e2e.prefect_server import ROOT, PrefectStack, new_postgres_database, start_stack

USER = "quarry"


@pytest.fixture(scope="session", autouse=True)
def prefect_server() -> Iterator[None]:
    """This module brings its own server (below): it does not need the session's test
    server of tests/e2e/conftest.py, which would add its start to the module's time."""
    yield


@pytest.fixture(scope="module")
def password() -> str:
    return secrets.token_hex(16)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, password: str) -> Iterator[PrefectStack]:
    from tests.conftest import _postgres_available

    problem = _postgres_available()
    if problem is not None:
        if os.environ.get("QUARRY_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"PostgreSQL is required for the Prefect server tests: {problem}")
        pytest.skip(f"no PostgreSQL for the Prefect server: {problem}")
    auth = f"{USER}:{password}"
    name, url = new_postgres_database(POSTGRES_ADMIN_URL)
    try:
        # The server has the server setting only; the set-up script, the worker and
        # stack.prefect(...) the client setting only.
        yield from start_stack(
            tmp_path_factory.mktemp("prefect-auth"),
            url,
            server_env={"PREFECT_SERVER_API_AUTH_STRING": auth},
            client_env={"PREFECT_API_AUTH_STRING": auth},
        )
    finally:
        admin = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _without_auth(env: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in env.items() if not k.endswith("AUTH_STRING")}


@pytest.mark.deployment
def test_the_api_wants_the_auth_string_and_health_stays_open(
    stack: PrefectStack, password: str
) -> None:
    assert "PREFECT_SERVER_API_AUTH_STRING" not in stack.env  # the clients' environment
    api = stack.api_url
    assert httpx.post(f"{api}/deployments/filter", json={}, timeout=10).status_code == 401
    wrong = httpx.post(f"{api}/deployments/filter", json={}, auth=(USER, "wrong"), timeout=10)
    assert wrong.status_code == 401
    right = httpx.post(f"{api}/deployments/filter", json={}, auth=(USER, password), timeout=10)
    assert right.status_code == 200
    assert {d["name"] for d in right.json()} >= {"quarry-crawl", "replay-dead-letters"}
    # Probes (load balancers, `quarry server status`) need no password.
    assert httpx.get(f"{api}/health", timeout=10).status_code == 200
    assert httpx.get(f"{api}/ready", timeout=10).status_code == 200

    # Prefect's own CLI, without the client setting, is refused too.
    refused = subprocess.run(
        [sys.executable, "-m", "prefect", "deployment", "ls"],
        cwd=ROOT,
        env=_without_auth(stack.env),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert refused.returncode != 0
    assert "401 Unauthorized" in refused.stdout + refused.stderr


@pytest.mark.deployment
def test_setup_worker_and_a_deployment_run_with_the_client_setting_only(
    stack: PrefectStack, tmp_path: Path
) -> None:
    # The stack ran `python -m deployments.setup` and started `prefect worker start --pool
    # quarry-pool` with PREFECT_API_AUTH_STRING in their environment and nothing else;
    # `prefect deployment run` has the same.
    site = numbered_site(8)
    with site:
        run_id, result = stack.run_deployment(
            "quarry-crawl/quarry-crawl",
            {
                "urls": site.urls,
                "job_id": "authed",
                "database_url": f"sqlite:///{tmp_path / 'quarry.db'}",
                "options": {
                    "checkpoint_dir": str(tmp_path / "checkpoints"),
                    "data_dir": str(tmp_path / "data"),
                    "dead_letter_url": f"sqlite:///{tmp_path / 'dead_letter.db'}",
                    "extract_workers": 1,
                },
            },
            watch=True,
            timeout=180,
        )
    output = result.stdout[-3000:] + result.stderr[-2000:]
    assert result.returncode == 0, output + _tail(stack.home / "worker.log")
    assert stack.flow_run(run_id)["state_type"] == "COMPLETED"
    counts = DocumentStore(f"sqlite:///{tmp_path / 'quarry.db'}").counts("authed")
    assert (counts.stored, counts.failed, counts.pending) == (8, 0, 0)
    # The worker (and the flow run it started from its environment) was never refused.
    assert "Unauthorized" not in (stack.home / "worker.log").read_text(errors="replace")


@pytest.mark.deployment
def test_quarry_crawl_with_the_auth_string_and_one_line_without(
    stack: PrefectStack, password: str, tmp_path: Path
) -> None:
    env = {
        **quarry_env(tmp_path, prefect_api=False),  # a PREFECT_HOME of its own
        "PREFECT_API_URL": stack.api_url,
    }
    site = numbered_site(5)
    with site:
        crawl = ["crawl", *site.urls, "--no-progress"]
        for job, auth, says in (
            ("none", None, "wants a password: set PREFECT_API_AUTH_STRING to its PREFECT_SERVER"),
            ("wrong", f"{USER}:wrong", "refused PREFECT_API_AUTH_STRING: it must be its PREFECT_"),
        ):
            extra = {"PREFECT_API_AUTH_STRING": auth} if auth else {}
            extra["COLUMNS"] = "200"  # a terminal that does not wrap the line
            refused = run_quarry([*crawl, "--job-id", job], tmp_path, {**env, **extra})
            assert refused.returncode == 2, refused.stdout + refused.stderr
            assert "Traceback" not in refused.stdout + refused.stderr
            error = [line for line in refused.stderr.splitlines() if line.strip()]
            assert len(error) == 1 and error[0].startswith("error: the Prefect server at ")
            assert says in error[0], error
        result = run_quarry(
            [*crawl, "--job-id", "authed"],
            tmp_path,
            {**env, "PREFECT_API_AUTH_STRING": f"{USER}:{password}"},
        )
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    counts = DocumentStore(f"sqlite:///{tmp_path / 'quarry.db'}").counts("authed")
    assert (counts.stored, counts.pending) == (5, 0)
    assert _files_with(password, tmp_path) == []  # its PREFECT_HOME, checkpoints, data


# What a secret in these files would look like: an auth string setting, a password
# given a value, a URL with user:password@.
SECRET_PATTERNS = {
    "an auth string setting": re.compile(r"auth_string", re.IGNORECASE),
    "a password value": re.compile(r"""password["']?\s*[:=]\s*["']?[^\s"'{},)]""", re.IGNORECASE),
    "a URL with a password": re.compile(r"[a-z][a-z0-9+.-]*://[^\s/:@\"']*:[^\s/@\"']+@"),
}


def _secrets_in(text: str) -> list[str]:
    return [what for what, pattern in SECRET_PATTERNS.items() if pattern.search(text)]


def test_prefect_yaml_and_the_setup_script_carry_no_secret() -> None:
    assert _secrets_in("  PREFECT_API_AUTH_STRING: admin:pass") == ["an auth string setting"]
    assert _secrets_in('password="hunter2"') == ["a password value"]
    assert _secrets_in("database_url: postgresql://quarry:hunter2@db/x") == [
        "a URL with a password"
    ]
    assert _secrets_in("--store-url postgresql://quarry@db/x  (password as a secret)") == []
    files = [ROOT / "prefect.yaml", *sorted((ROOT / "deployments").glob("*.py"))]
    found = {
        str(file.relative_to(ROOT)): hits
        for file in files
        if (hits := _secrets_in(file.read_text(encoding="utf-8")))
    }
    assert found == {}


@pytest.mark.deployment
def test_the_secret_is_in_no_file(stack: PrefectStack, password: str) -> None:
    """After the set-up, a worker, a deployment run and `quarry crawl` (the tests above):
    not in the repository (tracked or untracked files), not in PREFECT_HOME or logs."""
    tracked = subprocess.run(
        ["git", "-C", str(ROOT), "grep", "--untracked", "-n", "-F", password],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert tracked.returncode == 1 and tracked.stdout == "", tracked.stdout + tracked.stderr
    assert _files_with(password, stack.home) == []


def _files_with(secret: str, top: Path) -> list[str]:
    return [
        str(path)
        for path in top.rglob("*")
        if path.is_file() and secret.encode() in path.read_bytes()
    ]


def _tail(path: Path, chars: int = 3000) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return ""
