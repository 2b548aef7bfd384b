"""The one handler for SIGINT and SIGTERM while a job runs."""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from collections.abc import Callable
from typing import Any

logger = logging.getLogger("quarrycore.pipeline")


class StopSignals:
    """The one handler for SIGINT and SIGTERM while a job runs.

    The first signal asks the job to stop taking batches and commit what is in flight
    (within ``shutdown_grace``); the second cancels in-flight work at once (what is
    committed stays committed). Afterwards the signal is handed back to whoever handled
    it before (Prefect's SIGTERM bridge, Python's KeyboardInterrupt).

    Python delivers signals to the main thread only. A job run on another thread (a flow
    called from a worker thread) installs nothing: a signal then reaches whoever handles
    it in the main thread (Prefect: the run crashes, its hook saves the checkpoint, and
    a resume redoes the uncommitted batches)."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self, on_second: Callable[[], None]) -> None:
        self.received: int | None = None
        self.stopped = asyncio.Event()
        self._on_second = on_second
        self._previous: dict[int, Any] = {}
        self._loop: asyncio.AbstractEventLoop | None = None

    def install(self) -> bool:
        """Take SIGINT and SIGTERM; False (and nothing changed) off the main thread."""
        if threading.current_thread() is not threading.main_thread():
            return False
        self._loop = asyncio.get_running_loop()
        for sig in self.SIGNALS:
            self._previous[sig] = signal.getsignal(sig)
            self._loop.add_signal_handler(sig, self._handle, sig)
        return True

    def restore(self) -> None:
        if self._loop is None:
            return
        for sig, previous in self._previous.items():
            self._loop.remove_signal_handler(sig)
            signal.signal(sig, previous if previous is not None else signal.SIG_DFL)
        self._previous.clear()

    @property
    def stop_requested(self) -> bool:
        return self.received is not None

    def _handle(self, sig: int) -> None:
        if self.received is None:
            self.received = sig
            self.stopped.set()
            logger.warning(
                "%s: finishing the batches in flight, then stopping (again to stop at once)",
                signal.Signals(sig).name,
            )
        else:
            logger.warning("%s again: stopping now", signal.Signals(sig).name)
            self._on_second()
