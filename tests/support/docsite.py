"""A real documentation site for tests: the HTML documentation of Python 3.11 as Debian
ships it (package ``python3.11-doc``, ~530 pages; PSF licence).

Where the package is installed its tree is used as it is; else ``apt-get download``
fetches the .deb (no root needed; as root an ``apt-get update`` comes first if the
package is unknown) into the checkout's ``.cache/docsite/`` and ``dpkg-deb -x`` unpacks
it there once. A machine without apt (a user's laptop) skips the tests that need it,
unless ``QUARRY_REQUIRE_CORPUS=1`` (as in CI), where its absence is a failure.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

PACKAGE = "python3.11-doc"
TREE = Path("usr/share/doc/python3.11/html")
INSTALLED = Path("/") / TREE
CACHE = Path(__file__).resolve().parents[2] / ".cache" / "docsite"


class DocSiteUnavailable(Exception):
    pass


def _run(*command: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, cwd=cwd, capture_output=True, text=True, timeout=300, check=False
    )


def _download(into: Path) -> Path:
    """The package's .deb, downloaded into ``into``."""
    if shutil.which("apt-get") is None or shutil.which("dpkg-deb") is None:
        raise DocSiteUnavailable("no apt-get and dpkg-deb here (not a Debian-like system)")
    into.mkdir(parents=True, exist_ok=True)
    done = _run("apt-get", "download", PACKAGE, cwd=into)
    if done.returncode != 0 and os.geteuid() == 0:
        _run("apt-get", "update", cwd=into)  # a fresh container knows no packages yet
        done = _run("apt-get", "download", PACKAGE, cwd=into)
    debs = sorted(into.glob(f"{PACKAGE}_*.deb"))
    if done.returncode != 0 or not debs:
        raise DocSiteUnavailable(f"apt-get download {PACKAGE} failed: {done.stderr.strip()}")
    return debs[-1]


def docsite_root() -> Path:
    """The directory of the documentation's HTML tree (``index.html`` in it)."""
    if (INSTALLED / "index.html").is_file():
        return INSTALLED
    unpacked = CACHE / "root"
    if (unpacked / TREE / "index.html").is_file():
        return unpacked / TREE
    deb = _download(CACHE / "deb")
    partial = CACHE / "root.partial"
    shutil.rmtree(partial, ignore_errors=True)
    done = _run("dpkg-deb", "-x", str(deb), str(partial), cwd=CACHE)
    if done.returncode != 0 or not (partial / TREE / "index.html").is_file():
        raise DocSiteUnavailable(f"dpkg-deb -x {deb.name} failed: {done.stderr.strip()}")
    shutil.rmtree(unpacked, ignore_errors=True)
    partial.rename(unpacked)  # whole or not at all: a killed run leaves only root.partial
    return unpacked / TREE


def docsite_pages(limit: int | None = None) -> dict[str, bytes]:
    """{path relative to the tree: HTML bytes} of the site's pages, sorted by path;
    skipped where the site cannot be had (failed under QUARRY_REQUIRE_CORPUS=1)."""
    try:
        root = docsite_root()
    except (DocSiteUnavailable, OSError, subprocess.TimeoutExpired) as exc:
        if os.environ.get("QUARRY_REQUIRE_CORPUS") == "1":
            pytest.fail(f"the documentation site ({PACKAGE}) is required here: {exc}")
        pytest.skip(f"the documentation site ({PACKAGE}) is not available: {exc}")
    files = sorted(root.rglob("*.html"))[:limit]
    return {str(f.relative_to(root)): f.read_bytes() for f in files}
