"""A large URL file: the run fetches from its first chunk on while the rest is registered
(pipeline/inputsleft.py); every URL is done once, and no checkpoint taken meanwhile claims
to list every pending URL. The core alone, against a real local site."""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from quarrycore.checkpoint import CheckpointStage
from quarrycore.pipeline.job import OpenJob, finish_job, open_job
from quarrycore.pipeline.request import JobRequest
from quarrycore.pipeline.result import CrawlResult
from quarrycore.pipeline.runner import JobStages, run_job
from quarrycore.records import BatchReport
from quarrycore.settings import QuarrySettings, settings_from_parameters
from quarrycore.store import DocumentStore, intake
from quarrycore.store.intake import IntakeMarker
from tests.e2e.jobs import numbered_site

PAGES = 160


def _settings(tmp_path: Path) -> QuarrySettings:
    return settings_from_parameters(
        database_url=f"sqlite:///{tmp_path / 's.db'}",
        dead_letter_url=f"sqlite:///{tmp_path / 'dl.db'}",
        checkpoint_dir=str(tmp_path / "checkpoints"),
        data_dir=str(tmp_path / "data"),
        checkpoint_block=False,
        batch_size=10,
        extract_workers=1,
    )


async def test_batches_run_while_the_rest_of_the_file_is_registered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(intake, "CHUNK", 40)  # the file is four chunks
    committed = threading.Event()
    real_add = DocumentStore.add_urls
    calls = 0

    def add_after_a_commit(self: DocumentStore, *args: Any, **kwargs: Any) -> int:
        # The file's second chunk waits for a committed batch: that batch cannot have
        # waited for the whole file.
        nonlocal calls
        calls += 1
        if calls == 2:
            assert committed.wait(120), "no batch was committed before the rest was in"
        return real_add(self, *args, **kwargs)

    monkeypatch.setattr(DocumentStore, "add_urls", add_after_a_commit)
    settings = _settings(tmp_path)
    site = numbered_site(PAGES)
    listed_while_registering: list[bool] = []
    with site:
        urls_file = tmp_path / "urls.txt"
        urls_file.write_text("\n".join(site.urls) + "\n")
        job = await open_job(JobRequest(urls_file=str(urls_file), job_id="early"), settings)
        left = job.inputs_left
        assert left is not None and job.inputs == 40

        async def on_done(report: BatchReport) -> None:
            if not left.complete:
                checkpoint = await job.checkpointer.save("running")
                listed_while_registering.append(checkpoint.urls_remaining_complete)
            committed.set()

        result, stage = await _run_to_the_end(job, on_done)
    assert listed_while_registering and not any(listed_while_registering)
    assert left.complete and left.counts.inputs == PAGES
    assert (stage, result.stored_count, result.pending_count) == ("completed", PAGES, 0)
    store = DocumentStore(settings.database_url)
    states = store.url_states("early")
    assert sorted(states) == sorted(site.urls)
    assert {state for state, _ in states.values()} == {"stored"}
    assert IntakeMarker(store, "early").unfinished() is None
    store.close()


async def test_a_registration_that_fails_beside_the_batches_fails_the_run_and_is_resumed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(intake, "CHUNK", 40)
    real_add = DocumentStore.add_urls
    calls = 0

    def add_then_fail(self: DocumentStore, *args: Any, **kwargs: Any) -> int:
        nonlocal calls
        calls += 1
        if calls == 3:  # the third chunk: the first two are in
            raise OSError("the disk is full")
        return real_add(self, *args, **kwargs)

    monkeypatch.setattr(DocumentStore, "add_urls", add_then_fail)
    settings = _settings(tmp_path)
    site = numbered_site(PAGES)
    with site:
        urls_file = tmp_path / "urls.txt"
        urls_file.write_text("\n".join(site.urls) + "\n")
        job = await open_job(JobRequest(urls_file=str(urls_file), job_id="fails"), settings)
        try:
            async with JobStages(job) as stages:
                with pytest.raises(OSError, match="the disk is full"):
                    await run_job(job, stages.pipeline(), on_done=_nothing)
        finally:
            job.close()
        store = DocumentStore(settings.database_url)
        assert len(store.url_states("fails")) == 80  # two chunks, the run failed after
        assert IntakeMarker(store, "fails").unfinished() == [str(urls_file)]

        monkeypatch.setattr(DocumentStore, "add_urls", real_add)
        job = await open_job(JobRequest(job_id="fails", resume=True), settings)
        result, stage = await _run_to_the_end(job, _nothing)
    assert (stage, result.stored_count) == ("completed", PAGES)
    assert sorted(store.url_states("fails")) == sorted(site.urls)
    assert IntakeMarker(store, "fails").unfinished() is None
    store.close()


async def _nothing(report: BatchReport) -> None:
    return None


async def _run_to_the_end(
    job: OpenJob, on_done: Callable[[BatchReport], Awaitable[None]]
) -> tuple[CrawlResult, CheckpointStage]:
    """Run the job's batches through the plain steps and finish it; close it."""
    try:
        async with JobStages(job) as stages:
            signals = await run_job(job, stages.pipeline(), on_done=on_done)
        return await finish_job(job, stop_requested=signals.stop_requested)
    finally:
        job.close()
