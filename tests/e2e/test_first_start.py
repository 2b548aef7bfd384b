"""`quarry` on a machine that has never run Prefect, or that runs many jobs: a slow
first start of the temporary server is waited for, our errors are one line without a
traceback, and a background server (`quarry server`) is used when it is up."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx

from quarrycore.demo import SampleSite
from quarrycore.store import DocumentStore
from tests.e2e.jobs import quarry_env, run_quarry

BUSY = "while True: pass"
PRIVATE = ["--allow-private-networks"]  # the sample site is on 127.0.0.1


def test_a_cold_start_on_a_busy_machine_completes(tmp_path: Path) -> None:
    env = quarry_env(tmp_path, prefect_api=False)  # a fresh PREFECT_HOME, no server
    busy = [subprocess.Popen([sys.executable, "-c", BUSY]) for _ in range(2)]  # both cores
    try:
        with SampleSite() as site:
            urls = site.article_urls()[:5]
            result = run_quarry(
                ["crawl", *urls, "--job-id", "cold", "--allow-private-networks", "--no-progress"],
                tmp_path,
                env,
            )
    finally:
        for process in busy:
            process.kill()
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    assert "starting a temporary Prefect server" in result.stdout
    assert DocumentStore(f"sqlite:///{tmp_path / 'quarry.db'}").counts("cold").pending == 0


def test_our_errors_are_one_line_without_prefects_traceback(tmp_path: Path) -> None:
    result = run_quarry(
        ["crawl", "--job-id", "nope", "--no-progress"], tmp_path, quarry_env(tmp_path)
    )
    assert result.returncode == 2
    assert "error: no URLs given" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr


def test_a_background_server_is_used_while_it_is_up(tmp_path: Path) -> None:
    env = quarry_env(tmp_path, prefect_api=False)
    started = run_quarry(["server", "start"], tmp_path, env)
    assert started.returncode == 0, started.stdout + started.stderr
    try:
        status = run_quarry(["server", "status"], tmp_path, env)
        assert status.returncode == 0 and "running: http://127.0.0.1:" in status.stdout
        api_url = status.stdout.split()[1]
        with SampleSite() as site:
            result = run_quarry(
                ["crawl", site.article_urls()[0], "--job-id", "warm", "--no-progress", *PRIVATE],
                tmp_path,
                env,
            )
        assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
        assert "starting a temporary Prefect server" not in result.stdout
        runs = httpx.post(f"{api_url}/flow_runs/filter", json={}, timeout=30).json()
        assert [run["name"] for run in runs] == ["warm"]  # recorded on the background server
    finally:
        stopped = run_quarry(["server", "stop"], tmp_path, env)
    assert stopped.returncode == 0 and "stopped" in stopped.stdout
    assert run_quarry(["server", "status"], tmp_path, env).returncode == 1
