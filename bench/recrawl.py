"""What conditional requests save when a site has not changed: a crawl, then a recrawl
that asks each page conditionally (If-None-Match / If-Modified-Since: every page
answers 304), against a recrawl that downloads every page again (recrawl_changed_only
false), in the same run, through the quarry-crawl flow.

The site serves the extraction benchmark's articles (../shared, else the shipped sample)
under ``--pages`` URLs, each with an ETag and a Last-Modified, from another process on
127.0.0.1; that process counts the body bytes it sends.

    .venv/bin/python bench/recrawl.py --pages 500
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import multiprocessing
import os
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
CORPUS = ROOT.parent / "shared" / "corpora" / "article-extraction-benchmark" / "html"


def _serve(pages: int, port_queue: multiprocessing.Queue[int]) -> None:
    from quarrycore.demo import SAMPLE_PAGES
    from tests.support.siteserver import Response, SiteServer

    files = sorted(CORPUS.glob("*.html.gz")) or sorted(Path(str(SAMPLE_PAGES)).glob("*.html.gz"))
    bodies = [gzip.decompress(f.read_bytes()) for f in files]
    routes: dict[str, object] = {}
    for i in range(pages):
        body = bodies[i % len(bodies)] + f"<!-- {i} -->".encode()  # each page its own
        headers = {
            "Content-Type": "text/html; charset=utf-8",
            "ETag": f'"{hashlib.sha1(body).hexdigest()[:16]}"',
            "Last-Modified": "Sun, 01 Nov 2026 10:00:00 GMT",
        }
        routes[f"/p/{i}.html"] = Response(200, body, headers)
    server = SiteServer(routes)  # type: ignore[arg-type]

    def sent(hits: int) -> Response:
        total = sum(e.body_bytes for e in server.exchanges if e.path.startswith("/p/"))
        return Response(200, json.dumps({"bytes": total}).encode(), {"Content-Type": "text/json"})

    server.routes["/__sent"] = sent
    server.start()
    port_queue.put(server.port)
    while True:
        time.sleep(3600)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pages", type=int, default=500)
    args = parser.parse_args()
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("QUARRY_ALLOW_PRIVATE_NETWORKS", "1")
    os.environ.setdefault("QUARRY_PER_HOST_DELAY", "0")
    os.environ.setdefault("QUARRY_PER_HOST_CONCURRENCY", "32")
    from quarrycore.flows.crawl import quarry_crawl

    ports: multiprocessing.Queue[int] = multiprocessing.Queue()
    server = multiprocessing.Process(target=_serve, args=(args.pages, ports), daemon=True)
    server.start()
    port = ports.get(timeout=120)
    urls = [f"http://127.0.0.1:{port}/p/{i}.html" for i in range(args.pages)]

    def sent() -> int:
        return int(httpx.get(f"http://127.0.0.1:{port}/__sent").json()["bytes"])

    runs: list[tuple[str, float, int, dict[str, int]]] = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            db = f"sqlite:///{Path(tmp) / 'q.db'}"
            options = {"data_dir": str(Path(tmp) / "data")}
            plan: list[tuple[str, dict[str, object]]] = [
                ("first crawl", {"urls": urls}),
                ("recrawl, conditional", {"recrawl_after": "0.001"}),
                (
                    "recrawl, downloading all",
                    {"recrawl_after": "0.001", "recrawl_changed_only": False},
                ),
                ("recrawl, conditional again", {"recrawl_after": "0.001"}),
            ]
            for name, more in plan:
                before = sent()
                result = quarry_crawl(job_id="bench", database_url=db, options=options, **more)
                runs.append((name, result.duration_s, sent() - before, result.visits))
    finally:
        server.terminate()

    print(f"\n{args.pages} pages, {os.cpu_count()} cores")
    print(f"{'run':<30}{'seconds':>9}{'MB sent':>10}  visits")
    for name, seconds, sent_bytes, visits in runs:
        print(f"{name:<30}{seconds:>9.2f}{sent_bytes / 1e6:>10.1f}  {visits}")
    full, conditional = runs[2], runs[1]
    print(
        f"conditional / downloading all: time {conditional[1] / full[1]:.2f}x, "
        f"bytes {conditional[2] / max(1, full[2]):.4f}x"
    )


if __name__ == "__main__":
    main()
