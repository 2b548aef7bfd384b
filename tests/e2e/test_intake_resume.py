"""A run killed (SIGKILL) while it registers a large URL file: a resume by the job's id
alone registers the rest, from the file the job recorded (store/intake.py)."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

from quarrycore.pipeline.job import OpenJob, open_job
from quarrycore.pipeline.request import JobRequest
from quarrycore.settings import settings_from_parameters
from quarrycore.store import DocumentStore
from quarrycore.store.intake import CHUNK, IntakeMarker
from tests.e2e.jobs import quarry_env, start_quarry

LINES = 3 * CHUNK  # three transactions: the kill lands after the first


def _registered_while_under_way(db: str, job_id: str) -> int:
    """URLs of the job registered so far, while its registration is marked under way."""
    store = DocumentStore(db)
    try:
        if not store.job_exists(job_id) or IntakeMarker(store, job_id).unfinished() is None:
            return 0
        return store.counts(job_id).pending
    finally:
        store.close()


def test_a_run_killed_while_registering_is_finished_by_a_resume_without_the_file(
    tmp_path: Path,
) -> None:
    urls_file = tmp_path / "urls.txt"
    with urls_file.open("w") as out:  # nothing listens on port 9: never fetched here
        out.writelines(f"http://127.0.0.1:9/p/{i}\n" for i in range(LINES))
    db = f"sqlite:///{tmp_path / 'store.db'}"
    env = quarry_env(tmp_path)
    args = ["crawl", "--urls-file", str(urls_file), "--job-id", "reg", "--db", db, "--no-progress"]
    proc = start_quarry(args, tmp_path, env)
    deadline = time.monotonic() + 300
    try:
        while not _registered_while_under_way(db, "reg"):
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            assert time.monotonic() < deadline, "no chunk of the file was registered"
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    store = DocumentStore(db)
    registered = store.counts("reg").pending
    assert 0 < registered < LINES, "the kill came after the registration ended"

    settings = settings_from_parameters(
        database_url=db,
        checkpoint_dir=env["QUARRY_CHECKPOINT_DIR"],
        data_dir=env["QUARRY_DATA_DIR"],
        checkpoint_block=False,
    )

    async def resume() -> OpenJob:
        job = await open_job(JobRequest(job_id="reg", resume=True), settings)
        await job.register_the_rest()
        job.close()
        return job

    job = asyncio.run(resume())
    assert job.inputs == LINES
    assert store.counts("reg").pending == LINES  # each URL once, in the order given
    assert IntakeMarker(store, "reg").unfinished() is None
    store.close()
