"""What one batch's commit costs in a large link-following job: a commit that enqueues
links against one that does not (the baseline), measured in the same run, at growing
job sizes. Per-batch cost must not grow with the job.

    .venv/bin/python bench/link_commit.py --sizes 10000 1000000
    .venv/bin/python bench/link_commit.py --db postgresql+psycopg2://postgres@127.0.0.1:5432/bench
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from quarrycore.records import Document
from quarrycore.store import DocumentStore

BATCH, LINKS_PER_DOC, REPEATS = 100, 20, 7


def _doc(url: str) -> Document:
    return Document(
        url=url,
        final_url=url,
        status_code=200,
        fetched_at=datetime.now(UTC),
        text=f"text of {url}",
        content_hash=f"{hash(url):064x}"[-64:],
        word_count=3,
    )


def measure(store: DocumentStore, job: str, size: int) -> tuple[float, float]:
    """Median seconds of a 100-document commit, without links and with 2,000 new links."""
    store.start_job(job, {})
    store.add_urls(job, (f"http://site.test/{i}" for i in range(size)))
    plain: list[float] = []
    linked: list[float] = []
    for r in range(REPEATS):
        for timings, links in ((plain, False), (linked, True)):
            base = size - (2 * r + (1 if links else 0) + 1) * BATCH  # pending URLs to commit
            urls = [f"http://site.test/{i}" for i in range(base, base + BATCH)]
            new = [
                (f"http://site.test/new/{r}/{links}/{i}", 1) for i in range(BATCH * LINKS_PER_DOC)
            ]
            started = time.perf_counter()
            store.commit_batch(job, [_doc(u) for u in urls], [], links=new if links else ())
            timings.append(time.perf_counter() - started)
    return statistics.median(plain), statistics.median(linked)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 1_000_000])
    parser.add_argument("--db", help="SQLAlchemy URL of an empty database (default: SQLite)")
    args = parser.parse_args()
    print(f"{'job URLs':>10} {'commit':>9} {'with links':>11} {'ratio':>6}")
    with tempfile.TemporaryDirectory() as tmp:
        store = DocumentStore(args.db or f"sqlite:///{Path(tmp) / 'bench.db'}")
        for size in args.sizes:
            plain, linked = measure(store, f"bench-{size}", size)
            print(
                f"{size:>10} {plain * 1000:>7.0f}ms {linked * 1000:>9.0f}ms {linked / plain:>5.1f}x"
            )
        store.close()


if __name__ == "__main__":
    main()
