"""Resuming on a store that does not have the job: rebuilt from the checkpoint when it
lists every pending URL, else a clear error that leaves the checkpoint as it was."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest

from quarrycore.blocks.checkpoint import BlockMirror
from quarrycore.checkpoint import CheckpointFile, snapshot
from quarrycore.exceptions import IncompatibleCheckpoint
from quarrycore.pipeline.job import open_job
from quarrycore.pipeline.request import JobRequest
from quarrycore.settings import settings_from_parameters
from quarrycore.store import DocumentStore
from tests.e2e.jobs import quarry_env, run_quarry

PENDING = 20_000  # more than checkpoint_inline_urls: the list stays in the store


def _checkpoint_of_a_job_elsewhere(machine_a: Path) -> None:
    """Job "far" with 20,000 pending URLs in machine A's store (the default relative
    ``sqlite:///quarry.db``), its checkpoint file saved on A and mirrored in the Block."""
    settings = settings_from_parameters(checkpoint_dir=str(machine_a / "checkpoints"))
    store = DocumentStore(settings.database_url)
    store.start_job("far", {})
    store.add_urls("far", (f"http://x.test/{i}" for i in range(PENDING)))
    checkpoint = snapshot(
        store, "far", settings, stage="interrupted", pipeline_id=None, start_time=datetime.now(UTC)
    )
    assert not checkpoint.urls_remaining_complete and checkpoint.store_id == store.store_id
    CheckpointFile(settings.checkpoint_dir).write(checkpoint)
    asyncio.run(BlockMirror(inline_limit=1_000).save(checkpoint))
    store.close()


def test_a_resume_on_a_store_without_the_job_is_refused_and_changes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    machine_a, machine_b = tmp_path / "a", tmp_path / "b"
    machine_a.mkdir()
    machine_b.mkdir()
    with monkeypatch.context() as on_machine_a:
        on_machine_a.chdir(machine_a)
        _checkpoint_of_a_job_elsewhere(machine_a)
    # Machine B has the checkpoint file (copied), the same Prefect server (the Block), and
    # its own store at the same relative URL: sqlite:///quarry.db.
    (machine_b / "checkpoints").mkdir()
    file_a = machine_a / "checkpoints" / "far.json"
    file_b = machine_b / "checkpoints" / "far.json"
    file_b.write_bytes(file_a.read_bytes())
    before = file_b.read_bytes()
    block_before = asyncio.run(BlockMirror(inline_limit=1_000).load("far"))

    env = quarry_env(machine_b)
    env["QUARRY_CHECKPOINT_DIR"] = str(machine_b / "checkpoints")
    result = run_quarry(["crawl", "--resume", "far", "--no-progress"], machine_b, env)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "is not in the store sqlite:///quarry.db" in result.stderr
    assert f"{PENDING} pending URLs" in result.stderr and "Traceback" not in result.stderr
    assert file_b.read_bytes() == before
    assert asyncio.run(BlockMirror(inline_limit=1_000).load("far")) == block_before

    # The flow's own check (a deployment run, no CLI in front): the same refusal.
    settings = settings_from_parameters(
        database_url=f"sqlite:///{machine_b / 'quarry.db'}",
        checkpoint_dir=str(machine_b / "checkpoints"),
        dead_letter_url=f"sqlite:///{machine_b / 'dl.db'}",
    )
    with pytest.raises(IncompatibleCheckpoint, match="resume with that store"):
        asyncio.run(open_job(JobRequest(job_id="far", resume=True), settings))
    assert file_b.read_bytes() == before
    assert not DocumentStore(settings.database_url).job_exists("far")
