"""End-to-end throughput: QuarryCore's flow against a naive loop, same site, same run.

The site serves the extraction benchmark's real articles (../shared, else the shipped
sample) under N distinct URLs from a separate process on 127.0.0.1. The baseline is
what one would write in twenty lines: httpx with the same concurrency, trafilatura
inline, one SQLite insert per page.

    .venv/bin/python bench/pipeline.py --pages 2000
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import multiprocessing
import os
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpora" / "article-extraction-benchmark" / "html"


def _serve(pages: int, port_queue: multiprocessing.Queue[int]) -> None:
    from quarrycore.demo import SAMPLE_PAGES
    from tests.support.siteserver import Response, SiteServer

    files = sorted(CORPUS.glob("*.html.gz")) or sorted(Path(str(SAMPLE_PAGES)).glob("*.html.gz"))
    bodies = [gzip.decompress(f.read_bytes()) for f in files]
    routes = {
        f"/p/{i}.html": Response(
            200, bodies[i % len(bodies)], {"Content-Type": "text/html; charset=utf-8"}
        )
        for i in range(pages)
    }
    server = SiteServer(routes).start()
    port_queue.put(server.port)
    while True:
        time.sleep(3600)


async def _baseline(urls: list[str], concurrency: int, db: Path) -> float:
    import httpx
    import trafilatura

    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE docs (url TEXT PRIMARY KEY, text TEXT)")
    slots = asyncio.Semaphore(concurrency)
    started = time.perf_counter()
    async with httpx.AsyncClient(timeout=30) as client:

        async def one(url: str) -> None:
            async with slots:
                response = await client.get(url)
            text = trafilatura.extract(response.text, url=url) or ""
            conn.execute("INSERT OR REPLACE INTO docs VALUES (?, ?)", (url, text))
            conn.commit()

        await asyncio.gather(*(one(u) for u in urls))
    elapsed = time.perf_counter() - started
    stored = conn.execute("SELECT count(*) FROM docs").fetchone()[0]
    assert stored == len(urls), stored
    return elapsed


def _quarrycore(urls: list[str], concurrency: int, db: Path, batch_size: int) -> float:
    from quarrycore.flows.crawl import quarry_crawl

    result = quarry_crawl(
        urls=urls,
        job_id="bench",
        database_url=f"sqlite:///{db}",
        batch_size=batch_size,
        concurrency=concurrency,
        options={"data_dir": str(db.parent / "data")},
    )
    assert result.processed_count == len(urls), result  # repeated articles: Duplicate
    return float(result.duration_s)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pages", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=100)
    args = parser.parse_args()
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    # Our own server on 127.0.0.1: loopback allowed, no per-host politeness.
    os.environ.setdefault("QUARRY_ALLOW_PRIVATE_NETWORKS", "1")
    os.environ.setdefault("QUARRY_PER_HOST_DELAY", "0")
    os.environ.setdefault("QUARRY_PER_HOST_CONCURRENCY", "64")

    ports: multiprocessing.Queue[int] = multiprocessing.Queue()
    server = multiprocessing.Process(target=_serve, args=(args.pages, ports), daemon=True)
    server.start()
    port = ports.get(timeout=60)
    urls = [f"http://127.0.0.1:{port}/p/{i}.html" for i in range(args.pages)]
    try:
        with tempfile.TemporaryDirectory() as tmp:
            base = asyncio.run(_baseline(urls, args.concurrency, Path(tmp) / "base.db"))
            ours = _quarrycore(urls, args.concurrency, Path(tmp) / "q.db", args.batch_size)
    finally:
        server.terminate()

    def rate(seconds: float) -> float:
        return float(args.pages / seconds * 60)

    print(f"\n{args.pages} pages, concurrency {args.concurrency}, {os.cpu_count()} cores")
    print(f"{'run':<34}{'seconds':>10}{'pages/min':>12}")
    print(f"{'baseline (httpx + inline trafilatura)':<34}{base:>10.2f}{rate(base):>12.0f}")
    print(f"{'quarrycore flow':<34}{ours:>10.2f}{rate(ours):>12.0f}")
    print(f"ratio quarrycore/baseline (throughput): {base / ours:.2f}x")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
