"""What follows a commit (checkpoints, the progress shown in the UI) may fail without
ending the run: the commits are in the store, and the next batch tries again."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import quarrycore.flows.batchloop
from quarrycore.checkpoint import CheckpointFile, PipelineCheckpoint
from quarrycore.flows.crawl import quarry_crawl
from quarrycore.store import DocumentStore
from tests.e2e.jobs import numbered_site


def _options(tmp_path: Path) -> dict[str, Any]:
    return {
        "extract_workers": 0,
        "checkpoint_dir": str(tmp_path / "checkpoints"),
        "dead_letter_url": f"sqlite:///{tmp_path / 'dl.db'}",
        "checkpoint_block": False,  # file saves take milliseconds: one after every batch
    }


async def test_a_full_disk_for_checkpoints_does_not_end_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    attempts: list[str] = []

    def full_disk(self: CheckpointFile, checkpoint: PipelineCheckpoint) -> Path:
        attempts.append(checkpoint.stage)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(CheckpointFile, "write", full_disk)
    db = f"sqlite:///{tmp_path / 's.db'}"
    site = numbered_site(20)
    with site:
        result = await quarry_crawl(
            urls=site.urls,
            job_id="no-space",
            database_url=db,
            batch_size=5,
            options=_options(tmp_path),
        )
    assert (result.state, result.stored_count) == ("completed", 20)
    assert DocumentStore(db).counts("no-space").stored == 20
    assert attempts[0] == "running" and attempts[-1] == "completed"  # tried at every turn


async def test_a_failing_progress_update_does_not_end_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[float] = []

    async def api_hiccup(artifact_id: Any, progress: float, **kw: Any) -> None:
        calls.append(progress)
        raise RuntimeError("503 from the Prefect API")

    monkeypatch.setattr(quarrycore.flows.batchloop, "aupdate_progress_artifact", api_hiccup)
    db = f"sqlite:///{tmp_path / 's.db'}"
    site = numbered_site(20)
    with site:
        result = await quarry_crawl(
            urls=site.urls,
            job_id="no-api",
            database_url=db,
            batch_size=5,
            options=_options(tmp_path),
        )
    assert (result.state, result.stored_count) == ("completed", 20)
    assert calls  # it was tried, and failed, after committed batches
