"""Installed as a user installs it (``pip install .``, not editable), QuarryCore keeps to
its own namespace: ``import tasks`` or ``import flows`` in a user's project never finds
ours, and the command line runs from anywhere."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _run(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=600
    )


def test_a_wheel_installs_under_one_namespace_and_runs_from_anywhere(tmp_path: Path) -> None:
    wheels, venv, elsewhere = tmp_path / "wheels", tmp_path / "venv", tmp_path / "elsewhere"
    elsewhere.mkdir()
    built = _run(
        sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", wheels, ROOT, cwd=tmp_path
    )
    assert built.returncode == 0, built.stderr[-3000:]
    [wheel] = wheels.glob("quarrycore-*.whl")
    assert _run(sys.executable, "-m", "venv", venv, cwd=tmp_path).returncode == 0
    python = venv / "bin" / "python"
    site = _run(
        python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])", cwd=tmp_path
    )
    # The dependencies come from the test's own environment (no download); the .pth only
    # appends that directory to sys.path, so its editable install of QuarryCore is not
    # seen: the wheel installed below is the QuarryCore this venv imports.
    deps = sysconfig.get_paths()["purelib"]
    (Path(site.stdout.strip()) / "zz_test_dependencies.pth").write_text(deps + "\n")
    installed = _run(python, "-m", "pip", "install", "--no-deps", "--no-index", wheel, cwd=tmp_path)
    assert installed.returncode == 0, installed.stderr[-3000:]

    probe = (
        "import quarrycore, quarrycore.flows.crawl, quarrycore.tasks.crawl, quarrycore.blocks,"
        " quarrycore.cli, quarrycore.demo;"
        "print(quarrycore.__file__); print(len(quarrycore.demo.sample_pages()))"
    )
    ours = _run(python, "-c", probe, cwd=elsewhere)
    assert ours.returncode == 0, ours.stderr[-3000:]
    location, pages = ours.stdout.split()
    assert Path(location).is_relative_to(venv) and int(pages) == 40
    for name in ("tasks", "flows", "blocks", "deployments"):
        theirs = _run(python, "-c", f"import {name}", cwd=elsewhere)
        assert theirs.returncode != 0 and "ModuleNotFoundError" in theirs.stderr, name
    cli = _run(venv / "bin" / "quarry", "--help", cwd=elsewhere)
    assert cli.returncode == 0, cli.stderr[-3000:]
    assert all(command in cli.stdout for command in ("crawl", "status", "dead-letters"))
