"""Registering a large URL file with a job: streamed a chunk at a time (now) against read
whole, validated whole, then registered (the baseline, as before), each in a process of
its own, in the same run: wall time and peak resident memory.

    .venv/bin/python bench/intake.py --urls 1000000
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from quarrycore.settings import TRACKING_PARAMS
from quarrycore.store import DocumentStore
from quarrycore.store.intake import register_inputs, validate_inputs
from quarrycore.urls import read_urls_file


def run(mode: str, urls_file: Path, db: str) -> None:
    store = DocumentStore(db)
    store.start_job("bench", {})
    started = time.perf_counter()
    if mode == "streamed":
        register_inputs(store, "bench", read_urls_file(urls_file), drop_params=TRACKING_PARAMS)
    else:
        intake = validate_inputs(list(read_urls_file(urls_file)), drop_params=TRACKING_PARAMS)
        store.add_urls("bench", intake.valid, invalid=intake.invalid)
    seconds = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{mode} {seconds:.1f} {peak_mb:.0f} {store.counts('bench').total}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--urls", type=int, default=1_000_000)
    parser.add_argument("--mode", help=argparse.SUPPRESS)
    parser.add_argument("--file", help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.mode:
        run(args.mode, Path(args.file), args.db)
        return
    with tempfile.TemporaryDirectory() as tmp:
        urls_file = Path(tmp) / "urls.txt"
        with urls_file.open("w") as out:
            for i in range(args.urls):
                out.write(f"https://site{i % 1000}.example/section/{i % 97}/page-{i}.html\n")
        results = {}
        for mode in ("whole", "streamed"):
            db = f"sqlite:///{Path(tmp) / f'{mode}.db'}"
            cmd = [sys.executable, __file__, "--mode", mode, "--file", str(urls_file), "--db", db]
            words = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.split()
            results[mode] = (float(words[1]), float(words[2]), int(words[3]))
    print(f"{args.urls:,} URLs")
    print(f"{'':<22}{'seconds':>9}{'peak RSS MB':>13}{'registered':>12}")
    for mode, label in (("whole", "read whole (before)"), ("streamed", "streamed (now)")):
        seconds, peak, total = results[mode]
        print(f"{label:<22}{seconds:>9.1f}{peak:>13.0f}{total:>12,}")
    print(f"memory ratio: {results['whole'][1] / results['streamed'][1]:.1f}x")


if __name__ == "__main__":
    main()
