"""Extraction quality and speed on the ScrapingHub benchmark (181 pages, ../shared):
QuarryCore's extractor and extract step against trafilatura's modes, in the same run.

    .venv/bin/python bench/extraction.py [--reps 3]

Every configuration runs on every page, page by page in a rotating order, ``--reps``
times; a page's time is its fastest run (the machine is noisy), ms/page the median over
pages. Ratios are against plain ``trafilatura.extract`` measured in the same run.
"""

from __future__ import annotations

import argparse
import gzip
import json
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
BENCHMARK = ROOT.parent / "shared" / "corpora" / "article-extraction-benchmark"

from tests.support.evaluation import Score, score  # noqa: E402

Page = tuple[str, str, str]  # name, html, expected article body


def load() -> list[Page]:
    truth = json.loads((BENCHMARK / "ground-truth.json").read_text(encoding="utf-8"))
    pages = []
    for file in sorted((BENCHMARK / "html").glob("*.html.gz")):
        name = file.name.removesuffix(".html.gz")
        html = gzip.decompress(file.read_bytes()).decode("utf-8", errors="replace")
        pages.append((name, html, truth[name]["articleBody"]))
    return pages


def trafilatura_mode(
    *, favor_precision: bool = False, favor_recall: bool = False, fast: bool = False
) -> Callable[[str], str]:
    """``trafilatura.extract`` with one of its modes (all off: its defaults)."""
    import trafilatura

    def extract(html: str) -> str:
        return (
            trafilatura.extract(
                html, favor_precision=favor_precision, favor_recall=favor_recall, fast=fast
            )
            or ""
        )

    return extract


def quarry_main_text(html: str) -> str:
    """The extractor alone (quarrycore/maintext.py), metadata included."""
    from trafilatura.utils import load_html

    from quarrycore.extract.maintext import main_text

    tree = load_html(html)
    return main_text(tree, "http://bench.test/a").text if tree is not None else ""


def quarry_extract_step(html: str) -> str:
    """The whole extract step: + out-links, canonical URL, language, hash."""
    from quarrycore.extract.page import extract_page
    from quarrycore.records import Document, FetchedPage
    from quarrycore.settings import TRACKING_PARAMS

    page = FetchedPage(
        url="http://bench.test/a",
        final_url="http://bench.test/a",
        status_code=200,
        content_type="text/html",
        html=html,
        encoding="utf-8",
        fetched_at=datetime.now(UTC),
    )
    result = extract_page(page, drop=TRACKING_PARAMS, robots_meta=False)  # not the crawl policy
    return result.text if isinstance(result, Document) else ""


CONFIGS: dict[str, Callable[[str], str]] = {
    "trafilatura default (baseline)": trafilatura_mode(),
    "trafilatura favor_precision": trafilatura_mode(favor_precision=True),
    "trafilatura favor_recall": trafilatura_mode(favor_recall=True),
    "trafilatura fast": trafilatura_mode(fast=True),
    "quarrycore main_text": quarry_main_text,
    "quarrycore extract_page (step)": quarry_extract_step,
}


def measure(pages: list[Page], reps: int) -> dict[str, tuple[Score, float]]:
    names = list(CONFIGS)
    for name in names:  # imports, language model
        CONFIGS[name](pages[0][1])
    texts = {name: [""] * len(pages) for name in names}
    times = {name: [float("inf")] * len(pages) for name in names}
    for rep in range(reps):
        for i, (_, html, _) in enumerate(pages):
            k = (i + rep) % len(names)
            for name in names[k:] + names[:k]:
                started = time.perf_counter()
                texts[name][i] = CONFIGS[name](html)
                times[name][i] = min(times[name][i], (time.perf_counter() - started) * 1000)
    return {
        name: (
            score((expected, texts[name][i]) for i, (_, _, expected) in enumerate(pages)),
            statistics.median(times[name]),
        )
        for name in names
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3, help="runs of each page (fastest kept)")
    args = parser.parse_args()
    if not BENCHMARK.is_dir():
        sys.exit(f"benchmark not found at {BENCHMARK}")
    pages = load()
    results = measure(pages, args.reps)
    base_score, base_ms = results["trafilatura default (baseline)"]
    print(f"\n{len(pages)} pages, {args.reps} runs each; ms/page: median of per-page fastest")
    print(f"{'extractor':<34}{'P':>7}{'R':>7}{'F1':>7}{'ms/page':>9}{'F1 x':>7}{'time x':>8}")
    for name, (s, ms) in results.items():
        print(
            f"{name:<34}{s.precision:>7.3f}{s.recall:>7.3f}{s.f1:>7.3f}{ms:>9.1f}"
            f"{s.f1 / base_score.f1:>7.3f}{ms / base_ms:>8.2f}"
        )


if __name__ == "__main__":
    main()
