"""A real `prefect server start` (on PostgreSQL) and a real worker, for deployment tests."""

from __future__ import annotations

import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def stop_group(proc: subprocess.Popen[bytes] | subprocess.Popen[str], timeout: float = 20) -> None:
    """Stop a process started in its own session, and everything it started."""
    if proc.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 10)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


@dataclass
class PrefectStack:
    api_url: str
    env: dict[str, str]
    home: Path
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def prefect(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "prefect", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def run_deployment(
        self, name: str, params: dict[str, object], *, watch: bool, timeout: float = 300
    ) -> tuple[str, subprocess.CompletedProcess[str]]:
        import json

        args = ["deployment", "run", name]
        for key, value in params.items():
            args += ["--param", f"{key}={json.dumps(value)}"]
        if watch:
            args += ["--watch", "--watch-timeout", str(int(timeout))]
        result = self.prefect(*args, timeout=timeout + 30)
        match = re.search(r"UUID: ([0-9a-f-]{36})", result.stdout)
        assert match, result.stdout + result.stderr
        return match.group(1), result

    @property
    def auth(self) -> tuple[str, str] | None:
        """HTTP Basic credentials from the clients' PREFECT_API_AUTH_STRING, if any."""
        user, _, password = self.env.get("PREFECT_API_AUTH_STRING", "").partition(":")
        return (user, password) if user else None

    def flow_run(self, run_id: str) -> dict[str, object]:
        response = httpx.get(f"{self.api_url}/flow_runs/{run_id}", auth=self.auth, timeout=10)
        response.raise_for_status()
        data: dict[str, object] = response.json()
        return data

    def wait_state(self, run_id: str, states: set[str], timeout: float) -> str:
        deadline = time.monotonic() + timeout
        state = ""
        while time.monotonic() < deadline:
            state = str(self.flow_run(run_id)["state_type"])
            if state in states:
                return state
            time.sleep(0.25)
        raise AssertionError(f"flow run {run_id} still {state} after {timeout} s")


def start_stack(
    tmp: Path,
    database_url: str,
    *,
    server_env: Mapping[str, str] | None = None,
    client_env: Mapping[str, str] | None = None,
    workers: int = 1,
    worker_args: Sequence[str] = (),
) -> Iterator[PrefectStack]:
    """The server gets ``server_env`` on top; the set-up, the worker and ``stack.prefect``
    get ``client_env`` (e.g. PREFECT_SERVER_API_AUTH_STRING vs PREFECT_API_AUTH_STRING)."""
    port = free_port()
    api_url = f"http://127.0.0.1:{port}/api"
    env = {
        **os.environ,
        "PREFECT_HOME": str(tmp / "prefect-home"),
        "PREFECT_API_URL": api_url,
        "PREFECT_API_DATABASE_CONNECTION_URL": database_url,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_WORKER_QUERY_SECONDS": "2",
    }
    server_environ = {**env, **(server_env or {})}
    env.update(client_env or {})
    stack = PrefectStack(api_url=api_url, env=env, home=tmp)
    log = open(tmp / "server.log", "wb")  # noqa: SIM115
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "prefect",
            "server",
            "start",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        env=server_environ,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    stack.processes.append(server)
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                if httpx.get(f"{api_url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise AssertionError((tmp / "server.log").read_text()[-3000:])
            time.sleep(0.25)
        setup = subprocess.run(
            [sys.executable, "-m", "deployments.setup"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert setup.returncode == 0, setup.stdout[-2000:] + setup.stderr[-2000:]
        for n in range(workers):
            stack.workers.append(start_worker(stack, tmp / f"worker{n or ''}.log", worker_args))
            stack.processes.append(stack.workers[-1])
        yield stack
    finally:
        for proc in reversed(stack.processes):
            stop_group(proc)


def start_worker(
    stack: PrefectStack, log_path: Path, args: Sequence[str] = ()
) -> subprocess.Popen[bytes]:
    """A `prefect worker start` of the project's pool, in its own session."""
    log = open(log_path, "ab")  # noqa: SIM115
    return subprocess.Popen(
        [sys.executable, "-m", "prefect", "worker", "start", "--pool", "quarry-pool", *args],
        cwd=ROOT,
        env=stack.env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def new_postgres_database(admin_url: str) -> tuple[str, str]:
    import sqlalchemy as sa

    name = f"quarry_prefect_{secrets.token_hex(4)}"
    engine = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    base = admin_url.rsplit("/", 1)[0]
    base = "postgresql+asyncpg://" + base.split("://", 1)[1]  # Prefect's server is async
    return name, f"{base}/{name}"
