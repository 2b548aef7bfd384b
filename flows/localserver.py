"""Prefect's temporary local server, started so that a terminal's Ctrl-C spares it.

A Ctrl-C reaches the whole process group; Prefect's own temporary server is in the
CLI's group, so it died with the CLI's first SIGINT and the flow then hung without
running its hooks (measured, ../shared/DESIGN.md). We start the same server in a
session of its own, tied to our life with PR_SET_PDEATHSIG so that even ``kill -9``
of the CLI does not leave it behind.
"""

from __future__ import annotations

import subprocess
from typing import Any

from prefect.server.api import server as prefect_server
from prefect.settings import PREFECT_API_URL, PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS

from quarrycore.procutil import die_with_parent

# Prefect gives its temporary server 20 s to answer; its first start on a fresh
# PREFECT_HOME (database migrations) took 17-23 s here, and longer on a busy machine.
STARTUP_TIMEOUT = 120


class _OwnSessionPopen(subprocess.Popen):  # type: ignore[type-arg]
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["start_new_session"] = True
        kwargs["preexec_fn"] = die_with_parent
        super().__init__(*args, **kwargs)


class DetachedServer(prefect_server.SubprocessASGIServer):
    """Prefect's SubprocessASGIServer, in its own session."""

    def _run_uvicorn_command(self) -> subprocess.Popen[Any]:
        # Prefect calls subprocess.Popen(...) here; swap it for this one call.
        original = subprocess.Popen
        subprocess.Popen = _OwnSessionPopen  # type: ignore[misc]
        try:
            return super()._run_uvicorn_command()
        finally:
            subprocess.Popen = original  # type: ignore[misc]


def ensure_detached_server() -> None:
    """Start the temporary server ourselves unless a real one is configured. Prefect's
    code asks for ``SubprocessASGIServer()`` (the instance for port None): ours is it."""
    if PREFECT_API_URL.value():
        return
    prefect_server.SubprocessASGIServer._instances.pop(None, None)
    timeout = max(STARTUP_TIMEOUT, PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS.value())
    DetachedServer().start(timeout=timeout)
