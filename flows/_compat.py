"""An async flow that can also be called from plain synchronous code."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable, Coroutine
from typing import Any, ParamSpec, TypeVar

from prefect import Flow

P = ParamSpec("P")
R = TypeVar("R")


class SyncCompatibleFlow(Flow[P, R]):
    """``flow(...)`` runs to its result from synchronous code and is awaitable in async
    code, like ``Pipeline.run(...)`` was. Workers run it through Prefect's engine, which
    does not go through ``__call__``."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        result = super().__call__(*args, **kwargs)
        if inspect.iscoroutine(result) and not _loop_running():
            return asyncio.run(result)
        return result


def _loop_running() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def sync_compatible_flow(
    **options: Any,
) -> Callable[[Callable[P, Coroutine[Any, Any, R]]], SyncCompatibleFlow[P, R]]:
    def decorate(fn: Callable[P, Coroutine[Any, Any, R]]) -> SyncCompatibleFlow[P, R]:
        return SyncCompatibleFlow(fn, **options)

    return decorate
