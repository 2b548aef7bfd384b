"""Extraction quality and speed on the ScrapingHub benchmark (181 pages, ../shared):
QuarryCore's extract step against plain trafilatura, in the same run.

    .venv/bin/python bench/extraction.py
"""

from __future__ import annotations

import gzip
import json
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCHMARK = ROOT.parent / "shared" / "corpora" / "article-extraction-benchmark"


def load() -> list[tuple[str, str, str]]:
    truth = json.loads((BENCHMARK / "ground-truth.json").read_text(encoding="utf-8"))
    pages = []
    for file in sorted((BENCHMARK / "html").glob("*.html.gz")):
        name = file.name.removesuffix(".html.gz")
        html = gzip.decompress(file.read_bytes()).decode("utf-8", errors="replace")
        pages.append((name, html, truth[name]["articleBody"]))
    return pages


def run(extract: Callable[[str], str], pages: list[tuple[str, str, str]]) -> tuple[object, float]:
    from quarrycore.evaluation import score

    pairs, times = [], []
    for _, html, expected in pages:
        started = time.perf_counter()
        predicted = extract(html)
        times.append((time.perf_counter() - started) * 1000)
        pairs.append((expected, predicted))
    return score(pairs), statistics.median(times)


def ours(html: str) -> str:
    from quarrycore.extract import extract_page
    from quarrycore.records import Document, FetchedPage

    page = FetchedPage(
        url="http://bench.test/a",
        final_url="http://bench.test/a",
        status_code=200,
        content_type="text/html",
        html=html,
        encoding="utf-8",
        fetched_at=datetime.now(UTC),
    )
    result = extract_page(page, robots_meta=False)  # the extractor, not the crawl policy
    return result.text if isinstance(result, Document) else ""


def plain(html: str) -> str:
    import trafilatura

    return trafilatura.extract(html) or ""


def main() -> None:
    if not BENCHMARK.is_dir():
        sys.exit(f"benchmark not found at {BENCHMARK}")
    pages = load()
    plain(pages[0][1]), ours(pages[0][1])  # warm up imports and models
    rows = [
        ("trafilatura default (baseline)", *run(plain, pages)),
        ("quarrycore extract_page", *run(ours, pages)),
    ]
    print(f"\n{len(pages)} pages; median ms/page single-threaded")
    print(f"{'extractor':<34}{'P':>7}{'R':>7}{'F1':>7}{'ms/page':>9}")
    for name, s, ms in rows:
        print(f"{name:<34}{s.precision:>7.3f}{s.recall:>7.3f}{s.f1:>7.3f}{ms:>9.1f}")  # type: ignore[attr-defined]
    (_, base, base_ms), (_, mine, mine_ms) = rows
    print(
        f"ratio quarrycore/baseline: F1 {mine.f1 / base.f1:.3f}x, "  # type: ignore[attr-defined]
        f"time {mine_ms / base_ms:.2f}x"
    )


if __name__ == "__main__":
    main()
