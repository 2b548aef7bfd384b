"""What the quality filters cost beside extraction, measured in the same run on the same
pages: extraction alone (the baseline), then the default filters, then FineWeb's chain,
in ms per page on one core, and their ratio to extraction.

    .venv/bin/python bench/filters.py            # the shared benchmark's pages
    .venv/bin/python bench/filters.py --docsite  # the Python 3.11 docs (python3.11-doc)
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from quarrycore.extract.filters import verdict
from quarrycore.extract.page import extract_page
from quarrycore.quality_settings import QualityThresholds
from quarrycore.records import Document, FetchedPage
from quarrycore.settings import TRACKING_PARAMS

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the checkout's tests/

from tests.conftest import load_benchmark
from tests.support.docsite import docsite_pages

FINEWEB = ["language", "gopher_repetition", "gopher_quality", "c4", "fineweb_quality"]


def _pages(docsite: bool) -> list[FetchedPage]:
    raw = (
        docsite_pages() if docsite else {name: html for name, (html, _) in load_benchmark().items()}
    )
    now = datetime.now(UTC)
    return [
        FetchedPage(
            url=f"http://bench.test/{name}",
            final_url=f"http://bench.test/{name}",
            status_code=200,
            content_type="text/html",
            html=html.decode("utf-8", errors="replace"),
            encoding="utf-8",
            fetched_at=now,
        )
        for name, html in raw.items()
    ]


def _timed(work: Callable[[], object]) -> float:
    started = time.process_time()
    work()
    return time.process_time() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--docsite", action="store_true")
    args = parser.parse_args()
    pages = _pages(args.docsite)
    docs: list[Document] = []

    def extract_all() -> None:
        for page in pages:
            outcome = extract_page(page, drop=TRACKING_PARAMS)
            if isinstance(outcome, Document):
                docs.append(outcome)

    defaults, fineweb = QualityThresholds(), QualityThresholds(filters=FINEWEB)
    verdict(docs[0] if docs else _dummy(), defaults)  # load the tokenizer outside timing
    extraction = _timed(extract_all)
    default_cost = _timed(lambda: [verdict(d, defaults) for d in docs])
    fineweb_cost = _timed(lambda: [verdict(d, fineweb) for d in docs])
    n = len(docs)
    print(f"{len(pages)} pages, {n} with text (CPU time of one process)")
    print(f"{'step':<28}{'ms/page':>9}{'x extraction':>14}")
    for name, cost in (
        ("extraction (baseline)", extraction),
        ("default filters", default_cost),
        ("FineWeb chain", fineweb_cost),
    ):
        print(f"{name:<28}{1000 * cost / n:>9.1f}{cost / extraction:>14.2f}")


def _dummy() -> Document:
    return Document(
        url="http://bench.test/",
        final_url="http://bench.test/",
        status_code=200,
        fetched_at=datetime.now(UTC),
        text="warm up the tokenizer",
        content_hash="0",
        word_count=4,
    )


if __name__ == "__main__":
    main()
