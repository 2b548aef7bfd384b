"""The rest of a job's inputs, registered while its first batches run.

Registering a file of a million URLs takes 20-40 s here. A run registers the first chunk
(``store.intake.CHUNK`` inputs) before it starts, and the rest here, in a thread, a chunk
at a time, while the batch loop fetches what is registered; the loop, finding nothing
pending, waits for the next chunk instead of ending. Until the last chunk is in, the job
stays marked (``store/intake.py``) and its checkpoint does not claim to list every
pending URL: a run stopped before then (a signal: after the chunk under way; ``kill -9``:
that chunk rolled back) leaves the rest to the next run, which reads the file again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator
from typing import Protocol

from quarrycore.store.intake import IntakeCounts, IntakeMarker

logger = logging.getLogger("quarrycore.job")


class Register(Protocol):
    """``pipeline.inputs.register`` with the job's store, id and limits bound."""

    def __call__(
        self,
        inputs: Iterator[str],
        *,
        on_chunk: Callable[[IntakeCounts], None],
        should_stop: Callable[[], bool],
    ) -> IntakeCounts: ...


class InputsLeft:
    """Inputs of the job still to register, and the background run that registers them."""

    def __init__(
        self,
        register: Register,
        inputs: Iterator[str],
        *,
        marker: IntakeMarker,
        before: IntakeCounts,
        on_complete: Callable[[], None] = lambda: None,
    ) -> None:
        self._register = register
        self._on_complete = on_complete
        self._inputs = inputs
        self._marker = marker
        self._before = before  # what was registered before the run (the first chunk)
        self._rest = IntakeCounts(complete=False)
        self.chunks = 0  # chunks registered here so far
        self._stopping = False
        self._changed: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def counts(self) -> IntakeCounts:
        """Inputs, invalid and added of the whole registration so far."""
        before, rest = self._before, self._rest
        return IntakeCounts(
            inputs=before.inputs + rest.inputs,
            invalid=before.invalid + rest.invalid,
            added=before.added + rest.added,
            complete=rest.complete,
        )

    @property
    def complete(self) -> bool:
        return self._rest.complete

    def start(self, should_stop: Callable[[], bool]) -> None:
        """Start registering the rest (on the running event loop); ``should_stop`` is
        asked before each chunk."""
        if self._task is not None:
            return
        loop = asyncio.get_running_loop()
        changed = self._changed = asyncio.Event()

        def chunk_done(counts: IntakeCounts) -> None:  # in the registering thread
            loop.call_soon_threadsafe(self._chunk_done, counts, changed)

        def stop() -> bool:
            return self._stopping or should_stop()

        self._task = asyncio.create_task(self._run(chunk_done, stop, changed))

    def _chunk_done(self, counts: IntakeCounts, changed: asyncio.Event) -> None:
        self._rest = IntakeCounts(
            inputs=counts.inputs, invalid=counts.invalid, added=counts.added, complete=False
        )
        self.chunks += 1
        changed.set()

    async def _run(
        self,
        chunk_done: Callable[[IntakeCounts], None],
        stop: Callable[[], bool],
        changed: asyncio.Event,
    ) -> None:
        try:
            counts = await asyncio.to_thread(
                self._register, self._inputs, on_chunk=chunk_done, should_stop=stop
            )
            if counts.complete:
                await asyncio.to_thread(self._marker.end)
                self._on_complete()
            self._rest = counts
        finally:
            changed.set()

    async def wait_for_more(self, seen: int) -> bool:
        """Wait until more than ``seen`` chunks are registered (True) or the registration
        has ended (False: nothing more will come). Raises the registration's error."""
        while self.chunks <= seen:
            task, changed = self._task, self._changed
            if task is None or changed is None or task.done():
                if task is not None and not task.cancelled() and task.exception() is not None:
                    raise task.exception()  # type: ignore[misc]
                return self.chunks > seen
            changed.clear()
            await changed.wait()
        return True

    async def finish(self) -> None:
        """Register all the rest now (a fan-out splits the job's URLs: it needs them all)."""
        self.start(lambda: False)
        assert self._task is not None
        await self._task

    async def stop(self) -> None:
        """Stop after the chunk under way, and wait for it (the run is ending)."""
        self._stopping = True
        if self._task is None:
            return
        try:
            await asyncio.shield(self._task)
        except Exception as exc:  # the batch loop raises it when it waits; else said here
            logger.error(
                "registering the rest of the inputs failed (%s: %s); the next run of the "
                "job registers them",
                type(exc).__name__,
                exc,
            )
