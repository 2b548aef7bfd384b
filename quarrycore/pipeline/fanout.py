"""One job fanned out into shards, each run by its own run (a Prefect flow run on any
worker, or a local process), watched by the run that holds the job.

The parent splits the job by host (``store/shards.py``), starts a run per shard with
pending URLs, and watches, every ``poll`` seconds, the runs and the shards' leases:

- a run that ended while its shard has pending URLs (links another shard found, or a
  crash) is started again; so is a run whose shard's lease it took has expired, or whose
  holder is a dead process of this machine: its worker is gone (the launcher is told,
  so Prefect shows it Crashed);
- the job is done when no run is alive and no shard has a pending URL.

A stop (SIGINT/SIGTERM, a Prefect cancellation) cancels the shards' runs; a resume of
the job starts only shards with pending URLs. Dedup and ``max_pages`` stay the job's:
every commit of every shard takes the job's commit lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Literal, Protocol

from quarrycore.exceptions import QuarryError, RunStopped
from quarrycore.pipeline.job import OpenJob
from quarrycore.pipeline.runner import keep_lease, keep_saving
from quarrycore.pipeline.signals import StopSignals
from quarrycore.store.shards import ShardState

logger = logging.getLogger("quarrycore.fanout")

RunState = Literal["running", "completed", "failed", "crashed", "cancelled"]
_FAILED_RUNS_LIMIT = 3  # runs of one shard in a row that fail without progress: give up


class ShardLauncher(Protocol):
    """Starts and watches the runs of a job's shards (Prefect deployment or processes).

    ``sees_processes``: its ``state`` is the run's process itself (alive or not), so a
    late heartbeat is no sign of death; a flow run's Prefect state is not (a dead worker
    leaves it Running), and then the shard's lease tells."""

    sees_processes: bool

    async def launch(self, shard: int) -> str:
        """Start a run of ``shard``; returns its id."""
        ...

    async def state(self, run_id: str) -> RunState: ...

    async def abandon(self, run_id: str, reason: str) -> None:
        """The run's worker is gone: record it as crashed (and stop what is left of it)."""
        ...

    async def cancel(self, run_id: str) -> None: ...


@dataclass
class _Run:
    run_id: str
    token: int | None  # the shard's fencing token when it was started
    done_at_start: int


@dataclass
class FanOutReport:
    """What the watch saw: runs started per shard, and runs found dead."""

    launched: dict[int, int] = field(default_factory=dict)
    abandoned: list[str] = field(default_factory=list)


OnProgress = Callable[[list[ShardState]], Awaitable[None]]


async def run_shards(
    job: OpenJob,
    shards: int,
    launcher: ShardLauncher,
    *,
    poll: float = 2.0,
    on_progress: OnProgress | None = None,
) -> tuple[StopSignals, FanOutReport]:
    """Split the job into ``shards``, run them to the end (or to a stop); raises
    :class:`RunStopped` when the job's own lease is lost."""
    store, job_id = job.store, job.job_id
    await job.register_the_rest()  # the split needs every URL of the job
    plan = await asyncio.to_thread(store.shards.split, job_id, shards)
    logger.info(
        "job %s fanned out into %d shards: %s pending URLs",
        job_id,
        shards,
        ", ".join(str(plan[k]) for k in sorted(plan)),
    )
    settings = job.settings
    signals = StopSignals(on_second=lambda: None)
    signals.install()
    lost: list[RunStopped] = []
    lease_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="quarry-lease")
    background = [
        asyncio.create_task(keep_saving(job.checkpointer, settings.checkpoint_interval)),
        asyncio.create_task(
            keep_lease(job.lease, settings.job_lock_ttl / 3, lease_thread, lost.append)
        ),
    ]
    report = FanOutReport()
    runs: dict[int, _Run] = {}
    failed_in_a_row: dict[int, int] = {}
    try:
        while not lost:
            states = await asyncio.to_thread(store.shards.states, job_id)
            if on_progress is not None:
                try:
                    await on_progress(states)
                except Exception as exc:  # progress is for people; the job goes on
                    logger.warning("progress not shown: %s: %s", type(exc).__name__, exc)
            if signals.stop_requested:
                await _cancel_all(launcher, runs)
                break
            for shard in states:
                run = runs.get(shard.shard)
                if run is None and shard.held:
                    continue  # a run this parent did not start (an earlier parent's) holds it
                if run is not None:
                    try:
                        ended = await _ended(launcher, run, shard, report)
                    except Exception as exc:  # the Prefect API away a moment: look again
                        logger.warning("shard %d: %s: %s", shard.shard, type(exc).__name__, exc)
                        continue
                    if not ended:
                        continue
                    del runs[shard.shard]
                    progressed = shard.done > run.done_at_start
                    failed_in_a_row[shard.shard] = (
                        0 if progressed else failed_in_a_row.get(shard.shard, 0) + 1
                    )
                if shard.pending == 0:
                    continue
                if failed_in_a_row.get(shard.shard, 0) >= _FAILED_RUNS_LIMIT:
                    raise QuarryError(
                        f"job {job_id} shard {shard.shard}: {_FAILED_RUNS_LIMIT} runs in a row "
                        "ended without committing a batch; see their logs"
                    )
                run_id = await launcher.launch(shard.shard)
                await asyncio.to_thread(store.shards.set_run, job_id, shard.shard, run_id)
                runs[shard.shard] = _Run(run_id, shard.token, shard.done)
                report.launched[shard.shard] = report.launched.get(shard.shard, 0) + 1
                logger.info(
                    "shard %d: run %s started (%d pending)", shard.shard, run_id, shard.pending
                )
            if not runs and all(s.pending == 0 for s in states):
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(signals.stopped.wait(), timeout=poll)
    finally:
        signals.restore()
        for task in background:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)
        lease_thread.shutdown(wait=False)
    if lost:
        await _cancel_all(launcher, runs)
        raise lost[0]
    return signals, report


async def _ended(
    launcher: ShardLauncher, run: _Run, shard: ShardState, report: FanOutReport
) -> bool:
    """Whether the shard's run is over: it ended, or it took the shard's lease and its
    holder is gone (lease expired, or a dead process of this machine)."""
    state = await launcher.state(run.run_id)
    if state != "running":
        if state != "completed":
            logger.warning("shard %d: run %s %s", shard.shard, run.run_id, state)
        return True
    if launcher.sees_processes:
        return False  # its process is alive: a heartbeat late on a busy machine is no death
    took_lease = shard.token is not None and shard.token != run.token
    if took_lease and shard.status == "running" and not shard.held:
        reason = (
            f"shard {shard.shard} of the job: its lease expired or its process is gone "
            "(the worker died); the shard is run again"
        )
        logger.warning(
            "shard %d: run %s lost its worker; starting it again", shard.shard, run.run_id
        )
        await launcher.abandon(run.run_id, reason)
        report.abandoned.append(run.run_id)
        return True
    return False


async def _cancel_all(launcher: ShardLauncher, runs: dict[int, _Run]) -> None:
    for shard, run in runs.items():
        try:
            await launcher.cancel(run.run_id)
        except Exception as exc:  # one run's cancel must not keep the others running
            logger.warning("shard %d: run %s not cancelled: %s", shard, run.run_id, exc)
