"""From a flow run's parameters to its settings: the one place that reads them, used by
the flows and by the hooks that run after a crash (with nothing but the parameters)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from quarrycore.blocks.store import store_url
from quarrycore.settings import QuarrySettings, settings_from_parameters

# Flow parameters that are settings by the same name (any other setting: ``options``).
SETTING_PARAMETERS = ("batch_size", "concurrency", "checkpoint_interval", "dead_letter_url")


async def settings_for_run(parameters: Mapping[str, Any]) -> QuarrySettings:
    """``QUARRY_*`` from the environment, then ``options``, then the named parameters;
    ``database_block`` (a connector block) wins over ``database_url``."""
    return settings_from_parameters(
        parameters.get("options"),
        database_url=await store_url(
            parameters.get("database_url"), parameters.get("database_block")
        ),
        **{name: parameters.get(name) for name in SETTING_PARAMETERS},
    )
