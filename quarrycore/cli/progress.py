"""A live progress bar for the command line, read from the store (the source of truth)."""

from __future__ import annotations

import threading
import time
from types import TracebackType

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from quarrycore.fetch.politeness import HOST_QUEUE
from quarrycore.store import DocumentStore


class StoreProgress:
    """Polls the job's counts in a thread and draws done / failed / remaining, pages/s."""

    def __init__(self, database_url: str, job_id: str, *, interval: float = 0.5) -> None:
        self._database_url = database_url
        self._job_id = job_id
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="quarry-progress", daemon=True)
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total} done"),
            TextColumn("[red]{task.fields[failed]} failed"),
            TextColumn("{task.fields[remaining]} remaining"),
            TextColumn("{task.fields[rate]:.1f} pages/s"),
            TextColumn("[yellow]{task.fields[queued]}"),
            TimeElapsedColumn(),
            console=Console(stderr=True),
        )
        self._task = self._progress.add_task(
            job_id, total=None, failed=0, remaining="?", rate=0.0, queued=""
        )

    def __enter__(self) -> StoreProgress:
        self._progress.start()
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._progress.stop()

    def _run(self) -> None:
        store: DocumentStore | None = None
        started = time.monotonic()
        first_done: int | None = None
        try:
            while not self._stop.is_set():
                try:
                    store = store or DocumentStore(self._database_url)
                    counts = store.counts(self._job_id)
                except Exception:  # the flow may not have created the tables yet
                    counts = None
                if counts is not None and counts.total:
                    if first_done is None:
                        first_done, started = counts.processed, time.monotonic()
                    elapsed = max(1e-6, time.monotonic() - started)
                    self._progress.update(
                        self._task,
                        total=counts.total,
                        completed=counts.processed,
                        failed=counts.failed,
                        remaining=counts.pending,
                        rate=(counts.processed - first_done) / elapsed,
                        queued=queue_line(*HOST_QUEUE.snapshot()),
                    )
                self._stop.wait(self._interval)
        finally:
            if store is not None:
                store.close()


def queue_line(waiting: int, longest: float) -> str:
    """What the progress line says of URLs waiting for their host's turn (only when a
    flow runs in this process: a worker's queue is in its own logs)."""
    if not waiting:
        return ""
    return f"{waiting} waiting for their host (longest {longest:.0f} s)"
