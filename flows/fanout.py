"""Fan-out in Prefect: each shard of a job as a flow run of the same deployment (so any
worker of the pool runs it), or, for a run started without a deployment (plain ``quarry
crawl``), as a local process running the same flow. The watching is
``quarrycore.pipeline.fanout``'s; here are only the two launchers and the progress.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
from typing import Any

from prefect.artifacts import acreate_progress_artifact, aupdate_progress_artifact
from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import State, StateType
from prefect.deployments import run_deployment
from prefect.settings import PREFECT_API_URL
from prefect.states import Cancelled, Cancelling, Crashed

from quarrycore.flows.batchloop import artifact_key
from quarrycore.pipeline.fanout import RunState, ShardLauncher
from quarrycore.store.shards import ShardState

logger = logging.getLogger("quarrycore.fanout")

# Flow parameters a shard's run is given from its parent's (the rest is the job's own,
# in the store: inputs are registered by the parent, the scope is kept with the job).
SHARD_PARAMETERS = (
    "database_url",
    "database_block",
    "batch_size",
    "concurrency",
    "checkpoint_interval",
    "options",
    "recrawl_changed_only",
)
_ENDED = {
    StateType.COMPLETED: "completed",
    StateType.FAILED: "failed",
    StateType.CRASHED: "crashed",
    StateType.CANCELLED: "cancelled",
}


def shard_parameters(parent: dict[str, Any], job_id: str, shard: int) -> dict[str, Any]:
    chosen = {name: parent.get(name) for name in SHARD_PARAMETERS if parent.get(name) is not None}
    return {**chosen, "job_id": job_id, "shard": shard}


def shard_run_name(job_id: str, shard: int) -> str:
    return f"{job_id}-shard-{shard}"


class DeploymentLauncher:
    """Shards as flow runs of a deployment (the parent's own), run by the pool's workers."""

    sees_processes = False

    def __init__(self, deployment_id: str, job_id: str, parameters: dict[str, Any]) -> None:
        self._deployment_id = deployment_id
        self._job_id = job_id
        self._parameters = parameters

    async def launch(self, shard: int) -> str:
        run = await run_deployment(  # type: ignore[misc]  # sync-compatible: awaited here
            name=self._deployment_id,
            parameters=shard_parameters(self._parameters, self._job_id, shard),
            flow_run_name=shard_run_name(self._job_id, shard),
            timeout=0,  # started, not waited for: the parent watches
            as_subflow=True,
            tags=["quarry-shard"],
        )
        return str(run.id)

    async def state(self, run_id: str) -> RunState:
        async with get_client() as client:
            run = await client.read_flow_run(run_id)  # type: ignore[arg-type]
        kind = run.state.type if run.state is not None else None
        return _ENDED.get(kind, "running") if kind is not None else "running"  # type: ignore[return-value]

    async def abandon(self, run_id: str, reason: str) -> None:
        async with get_client() as client:
            await client.set_flow_run_state(run_id, Crashed(message=reason), force=True)

    async def cancel(self, run_id: str) -> None:
        await cancel_flow_run(run_id)


async def cancel_flow_run(run_id: str) -> None:
    """Cancel a flow run not over yet: at once when it has not started, else through
    its worker (Cancelling: the worker stops the process, which commits what it can)."""
    async with get_client() as client:
        run = await client.read_flow_run(run_id)  # type: ignore[arg-type]
        if run.state is None or run.state.is_final():
            return
        state: State[Any] = Cancelling() if run.state.type == StateType.RUNNING else Cancelled()
        await client.set_flow_run_state(run_id, state, force=True)


class ProcessLauncher:
    """Shards as local processes, each running the same flow against the same Prefect
    API: the fan-out of a run started without a deployment (tested without a worker)."""

    sees_processes = True

    def __init__(self, job_id: str, parameters: dict[str, Any]) -> None:
        self._job_id = job_id
        self._parameters = parameters
        self._processes: dict[str, subprocess.Popen[bytes]] = {}

    async def launch(self, shard: int) -> str:
        env = dict(os.environ)
        api = PREFECT_API_URL.value()
        if api:
            env["PREFECT_API_URL"] = str(api)
        arguments = json.dumps(shard_parameters(self._parameters, self._job_id, shard))
        process = subprocess.Popen(
            [sys.executable, "-m", "quarrycore.flows.shardprocess", arguments], env=env
        )
        run_id = f"pid-{process.pid}"
        self._processes[run_id] = process
        return run_id

    async def state(self, run_id: str) -> RunState:
        code = self._processes[run_id].poll()
        if code is None:
            return "running"
        if code == 0:
            return "completed"
        return "crashed" if code < 0 else "failed"

    async def abandon(self, run_id: str, reason: str) -> None:
        process = self._processes[run_id]
        if process.poll() is None:
            process.kill()
            process.wait()

    async def cancel(self, run_id: str) -> None:
        process = self._processes[run_id]
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)


def launcher_for(
    deployment_id: str | None, job_id: str, parameters: dict[str, Any]
) -> ShardLauncher:
    """The parent's own deployment when it has one; else local processes."""
    if deployment_id:
        return DeploymentLauncher(deployment_id, job_id, parameters)
    return ProcessLauncher(job_id, parameters)


class FanOutProgress:
    """One progress artifact for the whole job, a line a shard in its description."""

    def __init__(self, job_id: str) -> None:
        self._job_id = job_id
        self._artifact: Any = None
        self._last: list[tuple[int, int, int]] = []

    async def __call__(self, states: list[ShardState]) -> None:
        seen = [(s.shard, s.done, s.pending) for s in states]
        if seen == self._last:
            return
        self._last = seen
        done = sum(s.done for s in states)
        total = done + sum(s.pending for s in states)
        lines = [
            f"- shard {s.shard}: {s.done} of {s.done + s.pending} URLs done, {s.hosts} hosts, "
            f"{s.status}, {s.runs} run(s)"
            for s in states
        ]
        description = f"Job {self._job_id}: {done} of {total} URLs done\n\n" + "\n".join(lines)
        progress = 100.0 * done / max(1, total)
        if self._artifact is None:
            self._artifact = await acreate_progress_artifact(
                progress=progress,
                key=artifact_key("quarry-progress", self._job_id),
                description=description,
            )
        else:
            await aupdate_progress_artifact(
                self._artifact, progress=progress, description=description
            )
        logger.info(
            "job %s: %d of %d URLs done; %s",
            self._job_id,
            done,
            total,
            "; ".join(f"shard {s.shard} {s.done}/{s.done + s.pending}" for s in states),
        )
