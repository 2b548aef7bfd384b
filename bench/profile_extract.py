"""Where an extraction process's CPU goes on a page: ``extract_one`` (the extract step
as the extraction processes run it, default settings) over real pages, each part timed
by a wrapper, against plain ``trafilatura.extract`` measured in the same run.

    .venv/bin/python bench/profile_extract.py --docsite            # python3.11-doc pages
    .venv/bin/python bench/profile_extract.py                      # the article benchmark
    .venv/bin/python bench/profile_extract.py --docsite --cprofile 25   # + cProfile's top

CPU time of one process (``time.process_time``); the parts overlap where one calls
another (metadata is inside the main-text passes).
"""

from __future__ import annotations

import argparse
import cProfile
import functools
import pstats
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import trafilatura
import trafilatura.core

import quarrycore.extract.filters as filters_module
import quarrycore.extract.page as page_module
import quarrycore.extract.step as step_module
from quarrycore.extract.options import ExtractOptions
from quarrycore.extract.step import extract_one
from quarrycore.extract.wordsplit import preload
from quarrycore.quality_settings import QualityThresholds
from quarrycore.records import FetchedPage
from quarrycore.settings import QuarrySettings

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/

from filters import _pages

SPENT: dict[str, float] = defaultdict(float)
CALLS: dict[str, int] = defaultdict(int)


def _timing(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(func)
    def timed(*args: Any, **kwargs: Any) -> Any:
        started = time.process_time()
        try:
            return func(*args, **kwargs)
        finally:
            SPENT[name] += time.process_time() - started
            CALLS[name] += 1

    return timed


PARTS: list[tuple[Any, str, str]] = [
    (page_module, "load_html", "parse (lxml)"),
    (page_module, "main_text", "main text + metadata"),
    (trafilatura, "bare_extraction", "  trafilatura passes"),
    (trafilatura.core, "extract_metadata", "  metadata"),
    (page_module, "out_links", "out-links"),
    (page_module, "_canonical", "canonical"),
    (page_module, "detect_language", "language id"),
    (step_module, "signature", "MinHash signature"),
    (filters_module, "verdict", "quality filters"),
    (filters_module, "split_words", "  word split (spaCy)"),
]


def _instrument() -> None:
    for module, attr, name in PARTS:
        setattr(module, attr, _timing(name, getattr(module, attr)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--docsite", action="store_true")
    parser.add_argument("--limit", type=int, default=None, help="at most this many pages")
    parser.add_argument("--cprofile", type=int, default=0, help="print cProfile's top N")
    args = parser.parse_args()
    pages: list[FetchedPage] = _pages(args.docsite)[: args.limit]
    # The defaults a user gets (tests.conftest, imported for the benchmark's pages, turns
    # the filters off for the test suite).
    options = ExtractOptions.from_settings(QuarrySettings(quality=QualityThresholds()))
    preload()
    extract_one(pages[0], options)  # language model, spaCy: loaded outside the timing

    started = time.process_time()
    for page in pages:
        trafilatura.extract(page.html, url=page.final_url)
    baseline = time.process_time() - started

    _instrument()
    profiler = cProfile.Profile() if args.cprofile else None
    started = time.process_time()
    if profiler:
        profiler.enable()
    for page in pages:
        extract_one(page, options)
    if profiler:
        profiler.disable()
    total = time.process_time() - started

    n = len(pages)
    print(f"{n} pages, CPU ms a page (one process)")
    print(f"{'part':<28}{'ms/page':>9}{'calls':>7}{'x baseline':>12}")
    print(f"{'trafilatura.extract (base)':<28}{1000 * baseline / n:>9.1f}{n:>7}{1.0:>12.2f}")
    print(f"{'extract_one (total)':<28}{1000 * total / n:>9.1f}{n:>7}{total / baseline:>12.2f}")
    for _, _, name in PARTS:
        print(f"{name:<28}{1000 * SPENT[name] / n:>9.1f}{CALLS[name]:>7}")
    if profiler:
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(args.cprofile)


if __name__ == "__main__":
    main()
