"""Process helpers, on this machine's own C library."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from quarrycore.procutil import release_free_memory


def _rss_mb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) // 1024
    raise AssertionError("no VmRSS in /proc/self/status")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc_trim: Linux")
def test_free_memory_between_live_blocks_goes_back_to_the_system() -> None:
    # 200 MB of C heap in 2 kB blocks; one block in a hundred stays alive, so the freed
    # ones are holes that free() itself keeps (what a large page's parse leaves behind).
    blocks = [bytes(2000) + bytes([i % 256]) for i in range(100_000)]
    kept = blocks[::100]
    del blocks
    held = _rss_mb()
    release_free_memory()
    assert _rss_mb() < held - 100, "malloc_trim gave nothing back"
    assert len(kept) == 1000
