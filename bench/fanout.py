"""Fan-out through real Prefect workers: one job, the same URLs, in the same run,
(A) one worker, no shards (the baseline); (B) one worker, `shards` shards; (C) two
workers, `shards` shards. A real `prefect server` on PostgreSQL, the store on
PostgreSQL, the extraction benchmark's articles (../shared, else the shipped sample)
served on several 127.0.0.1 ports (one host each) from a separate process.

Prints pages/min (from the parent flow run's start to its end, as Prefect recorded
them), host CPU ms per page (/proc/stat over the run: every process, server included)
and the ratios against (A).

    .venv/bin/python bench/fanout.py --hosts 6 --pages 200 --shards 4
"""

from __future__ import annotations

import argparse
import gzip
import multiprocessing
import secrets
import sys
import tempfile
import time
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
CORPUS = ROOT.parent / "shared" / "corpora" / "article-extraction-benchmark" / "html"
ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def _serve(hosts: int, pages: int, ports: multiprocessing.Queue[list[int]]) -> None:
    from quarrycore.demo import SAMPLE_PAGES
    from tests.support.siteserver import Response, SiteServer

    files = sorted(CORPUS.glob("*.html.gz")) or sorted(Path(str(SAMPLE_PAGES)).glob("*.html.gz"))
    bodies = [gzip.decompress(f.read_bytes()) for f in files]
    html = {"Content-Type": "text/html; charset=utf-8"}
    servers = []
    for h in range(hosts):
        routes = {
            f"/p/{i}.html": Response(200, bodies[(h * pages + i) % len(bodies)], html)
            for i in range(pages)
        }
        servers.append(SiteServer(routes).start())
    ports.put([s.port for s in servers])
    while True:
        time.sleep(3600)


def _busy_jiffies() -> tuple[int, int]:
    """(busy, total) jiffies of the whole host since boot."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


def _database(name: str) -> str:
    engine = sa.create_engine(ADMIN, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return f"postgresql://postgres@127.0.0.1:5432/{name}"


def _drop(name: str) -> None:
    engine = sa.create_engine(ADMIN, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


def _run(
    stack: Any,
    tmp: Path,
    store: str,
    urls_file: Path,
    job: str,
    shards: int | None,
    extract_workers: int | None = None,
) -> dict[str, float]:
    params: dict[str, Any] = {
        "urls_file": str(urls_file),
        "job_id": job,
        "database_url": store,
        "batch_size": 50,
        "options": {
            "checkpoint_dir": str(tmp / "checkpoints"),
            "data_dir": str(tmp / "data"),
            "dead_letter_url": f"sqlite:///{tmp / 'dead_letter.db'}",
            "per_host_concurrency": 4,
            "allow_private_networks": True,
            "per_host_delay": 0,
        },
    }
    if shards:
        params["shards"] = shards
    if extract_workers:
        params["options"]["extract_workers"] = extract_workers
    busy0, total0 = _busy_jiffies()
    run_id, result = stack.run_deployment(
        "quarry-crawl/quarry-crawl", params, watch=True, timeout=1800
    )
    busy1, total1 = _busy_jiffies()
    if result.returncode != 0:
        raise SystemExit(result.stdout[-3000:] + result.stderr[-2000:])
    run = stack.flow_run(run_id)
    seconds = (
        datetime.fromisoformat(str(run["end_time"]))
        - datetime.fromisoformat(str(run["start_time"]))
    ).total_seconds()
    from quarrycore.store import DocumentStore

    counted = DocumentStore(store)
    done = counted.counts(job).processed
    counted.close()
    cores = multiprocessing.cpu_count()
    # busy jiffies are summed over every core; USER_HZ is 100 (10 ms a jiffy)
    cpu_ms = (busy1 - busy0) * 10.0
    return {
        "seconds": seconds,
        "pages": done,
        "pages_min": done / seconds * 60,
        "cpu_ms_page": cpu_ms / done,
        "utilisation": (busy1 - busy0) / max(1, total1 - total0) * 100,
        "cores": cores,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hosts", type=int, default=6)
    parser.add_argument("--pages", type=int, default=200, help="pages per host")
    parser.add_argument("--shards", type=int, default=4)
    args = parser.parse_args()

    from tests.e2e.prefect_server import (
        new_postgres_database,
        start_stack,
        start_worker,
        stop_group,
    )

    ports_queue: multiprocessing.Queue[list[int]] = multiprocessing.Queue()
    site = multiprocessing.Process(
        target=_serve, args=(args.hosts, args.pages, ports_queue), daemon=True
    )
    site.start()
    ports = ports_queue.get(timeout=60)
    urls = [f"http://127.0.0.1:{p}/p/{i}.html" for p in ports for i in range(args.pages)]
    prefect_db, prefect_url = new_postgres_database(ADMIN)
    store_name = f"quarry_bench_{secrets.token_hex(4)}"
    store = _database(store_name)
    results: dict[str, dict[str, float]] = {}
    try:
        with tempfile.TemporaryDirectory() as tmp_dir:
            tmp = Path(tmp_dir)
            urls_file = tmp / "urls.txt"
            urls_file.write_text("\n".join(urls) + "\n")
            stack_of = contextmanager(start_stack)
            with stack_of(tmp, prefect_url, workers=1, worker_args=("--limit", "8")) as stack:
                # A first run warms the server's caches and the page cache; not counted.
                _run(stack, tmp, store, urls_file, "warm-up", None)
                results["A: 1 worker, no shards"] = _run(stack, tmp, store, urls_file, "a", None)
                results[f"B: 1 worker, {args.shards} shards"] = _run(
                    stack, tmp, store, urls_file, "b", args.shards
                )
                second = start_worker(stack, tmp / "worker-2.log", ("--limit", "8"))
                try:
                    results[f"C: 2 workers, {args.shards} shards"] = _run(
                        stack, tmp, store, urls_file, "c", args.shards
                    )
                    results["D: as C, 1 extraction process a shard"] = _run(
                        stack, tmp, store, urls_file, "d", args.shards, extract_workers=1
                    )
                finally:
                    stop_group(second)
    finally:
        _drop(store_name)
        _drop(prefect_db)
        site.terminate()
    base = next(iter(results.values()))
    print(f"{len(urls)} URLs on {args.hosts} hosts, {multiprocessing.cpu_count()} cores")
    print(f"{'run':<40} {'s':>7} {'pages/min':>10} {'CPU ms/page':>12} {'CPU %':>6} {'vs A':>6}")
    for name, r in results.items():
        print(
            f"{name:<40} {r['seconds']:7.1f} {r['pages_min']:10.0f} {r['cpu_ms_page']:12.1f} "
            f"{r['utilisation']:6.0f} {r['pages_min'] / base['pages_min']:6.2f}x"
        )


if __name__ == "__main__":
    main()
