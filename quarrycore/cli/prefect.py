"""Which Prefect server the command line's flows talk to, and what of Prefect's output
reaches the terminal."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from quarrycore.cli.output import console
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

    from quarrycore.flows.localserver import ensure_detached_server

    if not PREFECT_API_URL.value():
        console.print(
            "starting a temporary Prefect server (a first start creates its database: up "
            "to a minute; `quarry server start` keeps one running)…",
            style="dim",
        )
    ensure_detached_server()
    one_line = _OneLineForOurErrors()
    for name in ("prefect.flow_runs", "prefect.task_runs", "prefect.flow_engine"):
        logging.getLogger(name).addFilter(one_line)
