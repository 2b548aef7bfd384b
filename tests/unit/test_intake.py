"""Opening a job registers its inputs: streamed from a file a chunk at a time, within the
job's max_pages across runs (the core alone; no Prefect, no fetching)."""

from __future__ import annotations

import tracemalloc
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import quarrycore.cli.crawl
from quarrycore.cli.app import app
from quarrycore.exceptions import ConfigError
from quarrycore.pipeline.job import open_job
from quarrycore.pipeline.request import JobRequest, ScopeRequest
from quarrycore.settings import QuarrySettings, settings_from_parameters
from quarrycore.store import DocumentStore, intake


def _settings(tmp_path: Path, database_url: str | None = None) -> QuarrySettings:
    return settings_from_parameters(
        database_url=database_url or f"sqlite:///{tmp_path / 's.db'}",
        dead_letter_url=f"sqlite:///{tmp_path / 'dl.db'}",
        checkpoint_dir=str(tmp_path / "checkpoints"),
        checkpoint_block=False,
    )


async def _open_and_close(request: JobRequest, settings: QuarrySettings) -> tuple[int, int]:
    job = await open_job(request, settings)
    await job.register_the_rest()
    job.close()
    return job.inputs, job.invalid


async def test_max_pages_holds_for_the_job_across_runs(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    first = [f"http://x.test/a/{i}" for i in range(3)]
    scope = ScopeRequest(max_pages=5)
    await _open_and_close(JobRequest(urls=first, job_id="cap", scope=scope), settings)
    later = [f"http://x.test/b/{i}" for i in range(5)]  # a rerun with new inputs
    await _open_and_close(JobRequest(urls=later, job_id="cap"), settings)
    states = DocumentStore(settings.database_url).url_states("cap")
    assert sorted(states) == sorted([*first, *later[:2]])  # 5 in all, in order


async def _register_file(tmp_path: Path, lines: int) -> tuple[int, int, int]:
    """(inputs, invalid, peak bytes allocated) of opening a job of a ``lines``-URL file."""
    urls_file = tmp_path / f"urls-{lines}.txt"
    with urls_file.open("w") as out:
        for i in range(lines):
            out.write(f"http://site{i % 50}.test/page/{i}?utm_source=x\n")
        out.write("not a url\n")
    settings = _settings(tmp_path)
    tracemalloc.start()
    inputs, invalid = await _open_and_close(
        JobRequest(urls_file=str(urls_file), job_id=f"big-{lines}"), settings
    )
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    counts = DocumentStore(settings.database_url).counts(f"big-{lines}")
    assert (counts.pending, counts.failed) == (lines, 1)
    return inputs, invalid, peak


async def test_a_url_file_is_registered_a_chunk_at_a_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(intake, "CHUNK", 4_000)  # both files several chunks long
    small = await _register_file(tmp_path, 12_000)
    large = await _register_file(tmp_path, 60_000)
    assert small[:2] == (12_001, 1) and large[:2] == (60_001, 1)
    # Five times the file, about the same memory: it is never held whole (as lists, the
    # 48,000 more URLs would add ~10 MB, raw and normalised).
    assert large[2] - small[2] < 3_000_000, (small[2], large[2])


def test_the_cli_hands_the_flow_the_file_not_its_urls(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    urls_file = tmp_path / "urls.txt"
    urls_file.write_text("".join(f"http://x.test/{i}\n" for i in range(10_000)))
    handed: list[dict[str, Any]] = []
    monkeypatch.setattr(
        quarrycore.cli.crawl,
        "_run",
        lambda chosen, job, parameters, **kw: handed.append(parameters),
    )
    result = CliRunner().invoke(app, ["crawl", "--urls-file", str(urls_file), "--job-id", "f"])
    assert result.exit_code == 0, result.output
    [parameters] = handed
    assert parameters["urls_file"] == str(urls_file.resolve()) and parameters["urls"] == []


def _write_urls(path: Path, count: int) -> list[str]:
    urls = [f"http://site{i % 7}.test/p/{i}" for i in range(count)]
    path.write_text("\n".join(urls) + "\n")
    return urls


async def _stop_after_first_chunk(
    request: JobRequest, settings: QuarrySettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run of ``request`` that ends (as a ``kill -9`` would) once its first chunk of
    inputs is registered: it registers the rest only while its batches run."""
    monkeypatch.setattr(intake, "CHUNK", 100)
    job = await open_job(request, settings)
    assert job.inputs_left is not None and not job.inputs_left.complete
    job.close()


async def test_a_registration_stopped_half_way_is_finished_by_a_resume_without_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, store_url: str
) -> None:
    settings = _settings(tmp_path, store_url)
    urls = _write_urls(tmp_path / "urls.txt", 450)
    request = JobRequest(urls_file=str(tmp_path / "urls.txt"), job_id="half")
    await _stop_after_first_chunk(request, settings, monkeypatch)
    store = DocumentStore(settings.database_url)
    assert len(store.url_states("half")) == 100
    assert intake.IntakeMarker(store, "half").unfinished() == [str(tmp_path / "urls.txt")]

    # Resumed by id alone: the file is read again from where the job recorded it.
    inputs, _ = await _open_and_close(JobRequest(job_id="half", resume=True), settings)
    assert inputs == 450  # read again; the 100 registered before are not added twice
    assert sorted(store.url_states("half")) == sorted(urls)
    assert intake.IntakeMarker(store, "half").unfinished() is None
    # A later resume has nothing more to register.
    assert await _open_and_close(JobRequest(job_id="half", resume=True), settings) == (0, 0)
    store.close()


async def test_a_registration_that_cannot_be_finished_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = _settings(tmp_path)
    _write_urls(tmp_path / "gone.txt", 250)
    await _stop_after_first_chunk(
        JobRequest(urls_file=str(tmp_path / "gone.txt"), job_id="gone"), settings, monkeypatch
    )
    (tmp_path / "gone.txt").unlink()
    with pytest.raises(ConfigError, match=r"registering its inputs from .*gone\.txt"):
        await open_job(JobRequest(job_id="gone", resume=True), settings)

    inline = [f"http://x.test/{i}" for i in range(250)]
    await _stop_after_first_chunk(JobRequest(urls=inline, job_id="inline"), settings, monkeypatch)
    with pytest.raises(ConfigError, match="given inline, which are not kept"):
        await open_job(JobRequest(job_id="inline", resume=True), settings)
    # Given again, they are registered: the rest, once.
    await _open_and_close(JobRequest(urls=inline, job_id="inline", resume=True), settings)
    assert sorted(DocumentStore(settings.database_url).url_states("inline")) == sorted(inline)


def test_postgres_knows_the_size_of_a_large_registration(postgres_url: str) -> None:
    """After a large registration the planner knows how many URLs the job has: the store
    refreshes the table's statistics as it grows. Before, it took a job of 1M URLs for
    317 rows and looked each chunk's keys up by reading the whole job. The COPY path
    registers every URL once, in order, and a second registration adds none."""
    import re

    store = DocumentStore(postgres_url)
    store.start_job("big", {})
    urls = [f"https://host{i % 50}.example/page/{i}" for i in range(30_000)]
    counts = intake.register_inputs(store, "big", iter(urls), drop_params=frozenset())
    assert (counts.added, counts.inputs) == (30_000, 30_000)
    assert intake.register_inputs(store, "big", iter(urls), drop_params=frozenset()).added == 0
    assert next(store.iter_pending("big", 3)) == urls[:3]
    with store.engine.connect() as conn:
        plan = conn.exec_driver_sql("EXPLAIN SELECT * FROM job_urls WHERE job_id = 'big'")
        estimate = re.search(r"rows=(\d+)", plan.scalars().first() or "")
    store.close()
    assert estimate is not None and int(estimate.group(1)) > 20_000


def test_postgres_knows_a_new_job_beside_a_large_one(postgres_url: str) -> None:
    """A second large job in a table the statistics already describe: the planner must
    learn of the new job too (a table-wide rule, rows against the table's size, would
    not ANALYZE again and leave the new job at a few rows)."""
    import re

    store = DocumentStore(postgres_url)
    for job in ("first", "second"):
        store.start_job(job, {})
        urls = (f"https://{job}.example/page/{i}" for i in range(25_000))
        intake.register_inputs(store, job, urls, drop_params=frozenset())
    with store.engine.connect() as conn:
        plan = conn.exec_driver_sql("EXPLAIN SELECT * FROM job_urls WHERE job_id = 'second'")
        estimate = re.search(r"rows=(\d+)", plan.scalars().first() or "")
    store.close()
    assert estimate is not None and int(estimate.group(1)) > 15_000
