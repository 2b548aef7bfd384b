"""Selecting dead letters to replay: rows read once into an ordered set per job, against
the list-membership baseline (O(n^2)) measured in the same run.

    .venv/bin/python bench/replay.py --rows 20000 100000
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from quarrycore.deadletters import DeadLetterFilter, DeadLetterStore
from quarrycore.pipeline.replay import select_replay
from quarrycore.records import Failure

BASELINE_MAX_ROWS = 30_000  # the quadratic baseline takes minutes beyond this


def list_baseline(dead_letters: DeadLetterStore, selection: DeadLetterFilter) -> int:
    by_job: dict[str, list[str]] = defaultdict(list)
    for row in dead_letters.rows(selection):
        if row["url"] not in by_job[row["job_id"]]:
            by_job[row["job_id"]].append(row["url"])
    return sum(len(urls) for urls in by_job.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, nargs="+", default=[20_000, 100_000])
    args = parser.parse_args()
    print(f"{'rows':>8} {'select_replay':>14} {'list baseline':>14} {'ratio':>7}")
    for rows in args.rows:
        with tempfile.TemporaryDirectory() as tmp:
            dead_letters = DeadLetterStore(f"sqlite:///{Path(tmp) / 'dl.db'}")
            failures = [
                Failure(
                    url=f"http://x/{i}", stage="crawl", error_type="E", message="m", retryable=True
                )
                for i in range(rows)
            ]
            dead_letters.record("j", failures)
            selection = DeadLetterFilter(retryable=None)
            started = time.perf_counter()
            assert sum(len(u) for u in select_replay(dead_letters, selection).values()) == rows
            ours = time.perf_counter() - started
            if rows <= BASELINE_MAX_ROWS:
                started = time.perf_counter()
                assert list_baseline(dead_letters, selection) == rows
                base = time.perf_counter() - started
                print(f"{rows:>8} {ours:>13.2f}s {base:>13.2f}s {base / ours:>6.1f}x")
            else:
                print(f"{rows:>8} {ours:>13.2f}s {'(skipped)':>14}")
            dead_letters.close()


if __name__ == "__main__":
    main()
