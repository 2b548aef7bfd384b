"""The comparison benchmark's small version (issue 17's smoke test): a few hundred pages
of the documentation site from nginx, one run of every engine (QuarryCore with Prefect,
its core alone, Scrapy + trafilatura, a sequential trafilatura loop); every engine
completes, turns every page out, and the results file is well formed. No timings are
asserted: this machine is shared and noisy."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_engine_of_the_comparison_completes(tmp_path: Path) -> None:
    from tests.support.docsite import docsite_pages

    docsite_pages(limit=1)  # skipped (or failed under QUARRY_REQUIRE_CORPUS) without it
    out = tmp_path / "results.json"
    arguments = ["--prefixes", "1", "--pages", "200", "--runs", "1", "--json", str(out)]
    run = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "compare.py"), *arguments],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    results = json.loads(out.read_text())
    assert results["urls"] == 200
    assert set(results["engines"]) == {"quarry", "core", "scrapy", "sequential"}
    for engine, row in results["engines"].items():
        assert row["pages"] >= 195, f"{engine} turned out {row['pages']} of 200 pages"
        assert row["pages_min"] > 0 and row["cpu_ms_page"] > 0 and row["pss_mb"] > 0
    assert "vs scrapy" in run.stdout
    # Where the CPU went: each engine's processes by role, and the Prefect server's share.
    quarry = results["engines"]["quarry"]["runs"][0]
    roles = {name.split(": ", 1)[1] for name in quarry["cpu_s_by_process"]}
    assert {"fork server", "extraction"} <= roles, roles
    assert quarry["prefect_server_cpu_s"] > 0  # the flow run's API calls
    assert "quarry CPU s by process:" in run.stdout
