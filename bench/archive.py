"""The WARC archive's cost and size, and re-extraction from it, on real pages.

One crawl of a corpus without the archive (the baseline) and one with it, alternated
over ``--rounds`` in the same run, then a re-extraction of the archived job; all through
the quarry-crawl / quarry-reextract flows, default quality filters on. The site serves the
extraction benchmark's 181 articles (../shared) or the pages of a documentation site
(Debian's python3.11-doc, tests/support/docsite.py) from a separate process on 127.0.0.1.
Prints seconds, the ratios, WARC bytes per 1,000 pages, and the job's verdicts.

    .venv/bin/python bench/archive.py --corpus benchmark
    .venv/bin/python bench/archive.py --corpus docs --pages 400
"""

from __future__ import annotations

import argparse
import gzip
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
CORPUS = ROOT.parent / "shared" / "corpora" / "article-extraction-benchmark" / "html"


def _bodies(corpus: str, pages: int | None) -> list[bytes]:
    if corpus == "benchmark":
        return [gzip.decompress(f.read_bytes()) for f in sorted(CORPUS.glob("*.html.gz"))][:pages]
    from tests.support.docsite import docsite_pages

    return list(docsite_pages(pages).values())


def _serve(bodies: list[bytes], port_queue: multiprocessing.Queue[int]) -> None:
    from tests.support.siteserver import Response, SiteServer

    html = {"Content-Type": "text/html; charset=utf-8"}
    routes = {f"/p/{i}.html": Response(200, body, html) for i, body in enumerate(bodies)}
    server = SiteServer(routes).start()
    port_queue.put(server.port)
    while True:
        time.sleep(3600)


def _options(data: Path, warc: bool) -> dict[str, object]:
    return {"data_dir": str(data), "warc": warc, "quality": {"enabled": True}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--corpus", choices=["benchmark", "docs"], default="benchmark")
    parser.add_argument("--pages", type=int, default=None)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("QUARRY_ALLOW_PRIVATE_NETWORKS", "1")
    os.environ.setdefault("QUARRY_PER_HOST_DELAY", "0")
    os.environ.setdefault("QUARRY_PER_HOST_CONCURRENCY", "32")
    from quarrycore.flows.crawl import quarry_crawl
    from quarrycore.flows.reextract import quarry_reextract
    from quarrycore.store import DocumentStore

    bodies = _bodies(args.corpus, args.pages)
    ports: multiprocessing.Queue[int] = multiprocessing.Queue()
    server = multiprocessing.Process(target=_serve, args=(bodies, ports), daemon=True)
    server.start()
    port = ports.get(timeout=120)
    urls = [f"http://127.0.0.1:{port}/p/{i}.html" for i in range(len(bodies))]
    times: dict[str, list[float]] = {"no archive": [], "archive": [], "reextract": []}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for round_ in range(args.rounds):
                for warc in (False, True):
                    name = f"{'warc' if warc else 'plain'}-{round_}"
                    db = f"sqlite:///{Path(tmp) / name}.db"
                    data = Path(tmp) / name
                    crawled = quarry_crawl(
                        urls=urls, job_id=name, database_url=db, options=_options(data, warc)
                    )
                    times["archive" if warc else "no archive"].append(crawled.duration_s)
                    if warc:
                        again = quarry_reextract(
                            job_id=name, database_url=db, options=_options(data, warc)
                        )
                        times["reextract"].append(again.duration_s)
                        warc_bytes = sum(p.stat().st_size for p in data.rglob("*.warc.gz"))
                        counts = DocumentStore(db).counts(name)
    finally:
        server.terminate()

    html_bytes = sum(len(b) for b in bodies)
    median = {k: statistics.median(v) for k, v in times.items()}
    print(f"\n{args.corpus}: {len(urls)} pages, {args.rounds} rounds, {os.cpu_count()} cores")
    for name, seconds in median.items():
        runs = ", ".join(f"{t:.2f}" for t in times[name])
        print(f"{name:<12}{seconds:>8.2f} s (median; runs {runs})")
    print(f"ratio archive / no archive (time): {median['archive'] / median['no archive']:.2f}x")
    reextract = median["reextract"] / median["archive"]
    print(f"ratio reextract / crawl with archive (time): {reextract:.2f}x")
    per_k = 1000 / len(urls)
    print(
        f"WARC: {warc_bytes * per_k / 1e6:.1f} MB per 1,000 pages "
        f"(HTML as served: {html_bytes * per_k / 1e6:.1f} MB per 1,000 pages)"
    )
    total = counts.total
    print(
        f"verdicts: stored {counts.stored / total:.1%}, filtered {counts.filtered / total:.1%} "
        f"{dict(counts.filtered_by)}, duplicate {counts.duplicate / total:.1%}, "
        f"failed {counts.failed / total:.1%} {dict(counts.failures_by_type)}"
    )


if __name__ == "__main__":
    main()
