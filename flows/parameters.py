"""From a flow run's parameters to its settings: the one place that reads them, used by
the flows and by the hooks that run after a crash (with nothing but the parameters)."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from quarrycore.blocks.store import store_url
from quarrycore.credentials import split_password
from quarrycore.settings import QuarrySettings, settings_from_parameters

logger = logging.getLogger("quarrycore.flows")
# Flow parameters that are settings by the same name (any other setting: ``options``).
SETTING_PARAMETERS = (
    "batch_size",
    "concurrency",
    "checkpoint_interval",
    "dead_letter_url",
    "recrawl_after",
    "recrawl_changed_only",
)
_SCHEDULED = re.compile(r"\{scheduled(?::([^}]*))?\}")


async def settings_for_run(parameters: Mapping[str, Any]) -> QuarrySettings:
    """``QUARRY_*`` from the environment, then ``options``, then the named parameters;
    ``database_block`` (a connector block) wins over ``database_url``."""
    for name in ("database_url", "dead_letter_url"):
        if split_password(str(parameters.get(name) or ""))[1] is not None:
            logger.warning(
                "the %s parameter holds a password, which the Prefect server keeps with the "
                "run: give the URL without it and the password as %s in the worker's "
                "environment, or use database_block",
                name,
                f"QUARRY_{name.removesuffix('_url').upper()}_PASSWORD",
            )
    return settings_from_parameters(
        parameters.get("options"),
        database_url=await store_url(
            parameters.get("database_url"), parameters.get("database_block")
        ),
        **{name: parameters.get(name) for name in SETTING_PARAMETERS},
    )


def resolve_job_id(job_id: str | None, scheduled: datetime | None) -> str | None:
    """A job id template resolved for one run: ``{scheduled:%Y-%m-%d}`` becomes the run's
    scheduled start time in that format (``news-{scheduled:%Y-%m-%d}``: a job a day);
    ``{scheduled}`` alone is ``%Y%m%dT%H%M%S``. Anything else is returned as it is."""
    if not job_id or "{scheduled" not in job_id:
        return job_id
    if scheduled is None:
        raise ValueError(f"job id {job_id!r} needs the run's scheduled start time")
    return _SCHEDULED.sub(lambda m: scheduled.strftime(m.group(1) or "%Y%m%dT%H%M%S"), job_id)
