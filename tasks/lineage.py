"""Exact, bounded links between the batch tasks of a flow run (the run graph).

Prefect links a task to the task whose result it is given by remembering every result,
and each field of it, under its ``id()`` in the flow run's context, and looking up the
parameters of each later call there. An entry for an object Prefect cannot hold a weak
reference to (a tuple, an int, a slots dataclass) is matched by ``id()`` alone and is
never dropped, so once its object is freed, a new object at the same address inherits
its task (Prefect issue 20558): without what follows, 122 of tests/e2e/test_lineage.py's
300 batches had a task linked to another batch's task too (and an extract of a CI run two
crawls). The entries also stay for the whole flow run, a State each.

So the step keeps one entry per batch in flight: the result itself (``Batch`` holds a
weak reference slot, so its entry is checked on lookup), dropped once the next task has
been linked to it; the entries of the result's fields are dropped at once (nothing is
ever passed a batch's field).
"""

from __future__ import annotations

from dataclasses import fields, is_dataclass
from typing import Any

from prefect.context import FlowRunContext


def _entries() -> dict[int, Any] | None:
    context = FlowRunContext.get()
    results = getattr(context, "run_results", None) if context is not None else None
    return results if isinstance(results, dict) else None


def keep_result_only(result: Any) -> None:
    """Drop the entries of ``result``'s fields; keep the result's own."""
    entries = _entries()
    if entries is None or not is_dataclass(result):
        return
    for field in fields(result):
        entries.pop(id(getattr(result, field.name)), None)


def release(result: Any) -> None:
    """Drop ``result``'s entry: the task it was passed to is linked to it already."""
    entries = _entries()
    if entries is not None:
        entries.pop(id(result), None)
