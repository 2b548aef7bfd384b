"""The core runs a whole job without Prefect: open it, run its batches through the plain
steps, finish it; in a fresh process that never imports ``prefect``, nor the extraction
libraries, whose work its extraction process does."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from quarrycore.deadletters import DeadLetterFilter, DeadLetterStore
from quarrycore.store import DocumentStore
from tests.e2e.jobs import numbered_site

SCRIPT = """
import asyncio, json, sys
from quarrycore.pipeline.job import finish_job, open_job
from quarrycore.pipeline.request import JobRequest
from quarrycore.pipeline.runner import JobStages, run_job
from quarrycore.settings import settings_from_parameters

async def main() -> None:
    settings = settings_from_parameters(
        database_url=sys.argv[1], batch_size=4, extract_workers=1, dead_letter_url=sys.argv[2]
    )
    job = await open_job(JobRequest(urls=sys.argv[3:], job_id="plain"), settings)
    reports = []

    async def on_done(report):
        reports.append(report.batch_index)

    try:
        async with JobStages(job) as stages:
            signals = await run_job(job, stages.pipeline(), on_done=on_done)
        result, stage = await finish_job(job, stop_requested=signals.stop_requested)
    finally:
        job.close()
    top = {name.split(".")[0] for name in sys.modules}
    print(json.dumps({
        "stage": stage, "stored": result.stored_count, "failed": result.failed_count,
        "batches": reports, "prefect_imported": "prefect" in top,
        "extraction_imported": sorted(top & {"trafilatura", "datasketch", "scipy", "spacy"}),
    }))

asyncio.run(main())
"""


def test_a_job_runs_through_the_core_alone(tmp_path: Path) -> None:
    db, dead_letter_db = f"sqlite:///{tmp_path / 's.db'}", f"sqlite:///{tmp_path / 'dl.db'}"
    site = numbered_site(10, missing=2)
    with site:
        proc = subprocess.run(
            [sys.executable, "-c", SCRIPT, db, dead_letter_db, *site.urls],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=300,
        )
    assert proc.returncode == 0, proc.stderr[-3000:]
    outcome = json.loads(proc.stdout.strip().splitlines()[-1])
    assert outcome == {
        "stage": "completed",
        "stored": 10,
        "failed": 2,
        "batches": [0, 1, 2],
        "prefect_imported": False,
        "extraction_imported": [],
    }
    store = DocumentStore(db)
    assert (
        sorted(s for s, _ in store.url_states("plain").values()) == ["failed"] * 2 + ["stored"] * 10
    )
    rows = list(DeadLetterStore(dead_letter_db).rows(DeadLetterFilter(job_id="plain")))
    assert sorted(r["url"] for r in rows) == site.urls[10:]
