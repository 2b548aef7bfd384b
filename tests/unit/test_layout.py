"""The house stays as drawn: module sizes, and every package of the tree installed."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MAX_LINES = 400
# Where each installed package of the distribution lives in the checkout.
TREES = {"quarrycore": "quarrycore", "quarrycore.flows": "flows", "quarrycore.tasks": "tasks"}
TREES["quarrycore.blocks"] = "blocks"


def _modules() -> list[Path]:
    return [p for tree in TREES.values() for p in (ROOT / tree).rglob("*.py")]


def test_no_module_grows_past_400_lines() -> None:
    sizes = {
        p.relative_to(ROOT): len(p.read_text(encoding="utf-8").splitlines()) for p in _modules()
    }
    assert len(sizes) > 40  # the walk found the code
    too_long = {str(path): n for path, n in sizes.items() if n > MAX_LINES}
    assert not too_long, f"split these modules (at most {MAX_LINES} lines): {too_long}"


def test_every_package_of_the_tree_is_installed() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    setuptools = config["tool"]["setuptools"]
    assert setuptools["package-dir"] == {name: path for name, path in TREES.items()}
    found = set()
    for name, tree in TREES.items():
        for init in (ROOT / tree).rglob("__init__.py"):
            parts = init.parent.relative_to(ROOT / tree).parts
            found.add(".".join((name, *parts)))
    assert set(setuptools["packages"]) == found
