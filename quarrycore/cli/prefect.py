"""Which Prefect server the command line's flows talk to, and what of Prefect's output
reaches the terminal."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import httpx

from quarrycore.cli.output import console, fail
from quarrycore.credentials import mask_url
from quarrycore.exceptions import QuarryError


class _OneLineForOurErrors(logging.Filter):
    """Our own errors are one clear line (printed by the CLI); Prefect logs them with
    their traceback, which says nothing more to the person at the terminal."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, QuarryError):
            record.exc_info, record.exc_text = None, None
        return True


def use_prefect_server(data_dir: Path) -> None:
    """``PREFECT_API_URL`` when it is set; else the project's background server when it
    is up (``quarry server start``); else a temporary server, started here and said so.
    Call before the first flow runs."""
    # Offline, the telemetry of a temporary server printed a traceback into the output.
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    if not os.environ.get("PREFECT_API_URL"):
        from quarrycore.flows.backgroundserver import running

        up = running(data_dir)
        if up is not None:
            os.environ["PREFECT_API_URL"] = up.api_url
    from prefect.settings import PREFECT_API_URL

    if not PREFECT_API_URL.value():
        # Imported only here: it imports Prefect's server application (~1 CPU s), which a
        # run against a running server never needs.
        from quarrycore.flows.localserver import ensure_detached_server

        console.print(
            "starting a temporary Prefect server (a first start creates its database: up "
            "to a minute; `quarry server start` keeps one running)…",
            style="dim",
        )
        ensure_detached_server()
    if PREFECT_API_URL.value():
        _check_credentials(str(PREFECT_API_URL.value()))
    one_line = _OneLineForOurErrors()
    for name in ("prefect.flow_runs", "prefect.task_runs", "prefect.flow_engine"):
        logging.getLogger(name).addFilter(one_line)


def _check_credentials(api_url: str) -> None:
    """A server that wants a password (PREFECT_SERVER_API_AUTH_STRING) and does not get
    ours: one line naming the setting, not a 401 traceback from inside the flow engine.
    ``/admin/version`` is behind the server's auth (``/health`` is not)."""
    from prefect.client.orchestration import get_client
    from prefect.exceptions import PrefectHTTPStatusError
    from prefect.settings import PREFECT_API_AUTH_STRING

    try:
        with get_client(sync_client=True) as client:
            client.api_version()
    except httpx.TransportError as exc:
        raise fail(f"cannot reach the Prefect server at {mask_url(api_url)}: {exc}") from None
    except PrefectHTTPStatusError as exc:
        if exc.response.status_code != 401:
            raise
        what = (
            "refused PREFECT_API_AUTH_STRING: it must be"
            if PREFECT_API_AUTH_STRING.value()
            else "wants a password: set PREFECT_API_AUTH_STRING to"
        )
        raise fail(
            f"the Prefect server at {mask_url(api_url)} {what} its PREFECT_SERVER_API_AUTH_STRING "
            "(user:password)"
        ) from None
