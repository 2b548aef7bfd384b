"""``quarry server start|stop|status``: a Prefect server of this project, in the background.

People who run many jobs should not pay the temporary server's start (10-20 s, more on
a fresh ``PREFECT_HOME``) every time. This one runs ``prefect server start`` detached,
with its ``PREFECT_HOME`` under the data directory; its address is kept in
``<data_dir>/server/server.json``, where ``quarry crawl`` finds it (an explicit
``PREFECT_API_URL`` still wins).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from quarrycore.exceptions import ConfigError

START_TIMEOUT = 180.0  # first start migrates a fresh database: ~20 s idle, more when busy


@dataclass(frozen=True, slots=True)
class ServerInfo:
    pid: int
    api_url: str
    log: Path


def _state_file(data_dir: Path) -> Path:
    return data_dir / "server" / "server.json"


def healthy(api_url: str, *, timeout: float = 2.0) -> bool:
    try:
        return httpx.get(f"{api_url}/health", timeout=timeout).status_code == 200
    except httpx.HTTPError:
        return False


def running(data_dir: Path) -> ServerInfo | None:
    """The project's background server, when it is up and answering."""
    try:
        state = json.loads(_state_file(data_dir).read_text(encoding="utf-8"))
        info = ServerInfo(int(state["pid"]), str(state["api_url"]), Path(state["log"]))
    except (OSError, ValueError, KeyError):
        return None
    return info if _alive(info.pid) and healthy(info.api_url) else None


def start(data_dir: Path, *, port: int | None = None) -> ServerInfo:
    """Start the server (or return the one that is up); wait until it answers."""
    up = running(data_dir)
    if up is not None:
        return up
    home = (data_dir / "server").resolve()
    home.mkdir(parents=True, exist_ok=True)
    port = port or _free_port()
    api_url = f"http://127.0.0.1:{port}/api"
    log = home / "server.log"
    env = {
        **os.environ,
        "PREFECT_HOME": str(home / "prefect"),
        "PREFECT_API_URL": api_url,  # the UI asks the API at its own address
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    }
    command = [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1"]
    with log.open("ab") as output:
        process = subprocess.Popen(
            [*command, "--port", str(port)],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a terminal's Ctrl-C does not reach it
        )
    info = ServerInfo(process.pid, api_url, log)
    deadline = time.monotonic() + START_TIMEOUT
    while not healthy(api_url):
        if process.poll() is not None:
            raise ConfigError(f"the Prefect server exited (code {process.returncode}); see {log}")
        if time.monotonic() > deadline:
            process.terminate()
            raise ConfigError(
                f"the Prefect server did not answer in {START_TIMEOUT:g} s; see {log}"
            )
        time.sleep(0.5)
    state = {"pid": info.pid, "api_url": api_url, "log": str(log)}
    _state_file(data_dir).write_text(json.dumps(state), encoding="utf-8")
    return info


def stop(data_dir: Path, *, timeout: float = 30.0) -> bool:
    """Stop the project's background server; False when none was running."""
    try:
        pid = int(json.loads(_state_file(data_dir).read_text(encoding="utf-8"))["pid"])
    except (OSError, ValueError, KeyError):
        return False
    stopped = False
    if _alive(pid):
        os.killpg(pid, signal.SIGTERM)  # the server and its uvicorn children
        deadline = time.monotonic() + timeout
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if _alive(pid):
            os.killpg(pid, signal.SIGKILL)
        stopped = True
    _state_file(data_dir).unlink(missing_ok=True)
    return stopped


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie child of ours counts as gone
        done, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return True
    return done == 0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
