"""Crawl mode on a generated interlinked site: pages/minute with politeness off (our
own server) against the polite defaults, and how exact the per-host delay is.

    .venv/bin/python bench/crawl.py --fanout 7 --levels 3 --polite-pages 40
"""

from __future__ import annotations

import argparse
import itertools
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _serve(fanout: int, levels: int, ports: multiprocessing.Queue[int], log_path: str) -> None:
    from tests.e2e.jobs import linked_site

    site = linked_site(fanout=fanout, levels=levels).start()
    ports.put(site.port)
    while True:
        time.sleep(0.5)
        Path(log_path).write_text("\n".join(f"{t} {p}" for t, p in list(site.log)))


def _crawl(
    port: int, job: str, workdir: Path, options: dict[str, object], max_pages: int | None
) -> tuple[float, int]:
    from quarrycore.flows.crawl import quarry_crawl

    result = quarry_crawl(
        seeds=[f"http://127.0.0.1:{port}/"],
        max_depth=10,
        max_pages=max_pages,
        job_id=job,
        database_url=f"sqlite:///{workdir / 'q.db'}",
        options={"data_dir": str(workdir / "data"), "allow_private_networks": True, **options},
    )
    return float(result.duration_s), result.processed_count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--fanout", type=int, default=7)
    parser.add_argument("--levels", type=int, default=3)
    parser.add_argument("--polite-pages", type=int, default=40)
    args = parser.parse_args()
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    ports: multiprocessing.Queue[int] = multiprocessing.Queue()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        log = work / "server.log"
        server = multiprocessing.Process(
            target=_serve, daemon=True, args=(args.fanout, args.levels, ports, str(log))
        )
        server.start()
        port = ports.get(timeout=60)
        try:
            fast_s, fast_n = _crawl(
                port, "fast", work, {"per_host_delay": 0.0, "per_host_concurrency": 32}, None
            )
            started = time.time()
            polite_s, polite_n = _crawl(port, "polite", work, {}, args.polite_pages)
            time.sleep(1.0)  # let the server write its last log lines
            entries = [line.split(" ", 1) for line in log.read_text().splitlines()]
            polite = sorted(
                float(t) for t, p in entries if float(t) >= started and p != "/robots.txt"
            )
        finally:
            server.terminate()
    gaps = [b - a for a, b in itertools.pairwise(polite)]
    print(f"\nsite: fanout {args.fanout}, {args.levels} levels; 2 cores")
    print(f"{'run':<42}{'pages':>7}{'seconds':>9}{'pages/min':>11}")
    print(
        f"{'politeness off (delay 0, 32 per host)':<42}{fast_n:>7}{fast_s:>9.1f}"
        f"{fast_n / fast_s * 60:>11.0f}"
    )
    print(
        f"{'defaults (delay 1 s, 2 per host)':<42}{polite_n:>7}{polite_s:>9.1f}"
        f"{polite_n / polite_s * 60:>11.0f}"
    )
    print(f"ratio off/defaults: {(fast_n / fast_s) / (polite_n / polite_s):.1f}x")
    if gaps:
        print(
            f"per-host delay 1.0 s, measured gaps between request starts: "
            f"min {min(gaps):.3f} s, median {statistics.median(gaps):.3f} s, "
            f"max {max(gaps):.3f} s over {len(gaps)} gaps"
        )


if __name__ == "__main__":
    main()
