"""Extraction quality on the ScrapingHub benchmark, against plain trafilatura measured
in the same run (no hard-coded figure)."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime

import pytest
import trafilatura

from quarrycore.extract.page import extract_page
from quarrycore.records import Document, FetchedPage
from quarrycore.settings import TRACKING_PARAMS
from tests.conftest import BENCHMARK, require_benchmark
from tests.support.evaluation import page_precision_recall, score


def _pages() -> list[tuple[str, str]]:
    require_benchmark()
    truth = json.loads((BENCHMARK / "ground-truth.json").read_text(encoding="utf-8"))
    return [
        (
            gzip.decompress(f.read_bytes()).decode("utf-8", "replace"),
            truth[f.name.removesuffix(".html.gz")]["articleBody"],
        )
        for f in sorted((BENCHMARK / "html").glob("*.html.gz"))
    ]


def _ours(html: str) -> str:
    page = FetchedPage(
        url="http://b.test/a",
        final_url="http://b.test/a",
        status_code=200,
        content_type="text/html",
        html=html,
        encoding="utf-8",
        fetched_at=datetime.now(UTC),
    )
    result = extract_page(page, drop=TRACKING_PARAMS, robots_meta=False)
    return result.text if isinstance(result, Document) else ""


def test_our_extraction_f1_is_at_least_trafilaturas_plain_and_best_modes() -> None:
    pages = _pages()
    assert len(pages) == 181
    plain = score((truth, trafilatura.extract(html) or "") for html, truth in pages)
    precise = score(
        (truth, trafilatura.extract(html, favor_precision=True) or "") for html, truth in pages
    )
    ours = score((truth, _ours(html)) for html, truth in pages)
    print(f"trafilatura F1 {plain.f1:.4f}, favor_precision {precise.f1:.4f}; ours {ours.f1:.4f}")
    assert ours.f1 >= plain.f1 and ours.f1 >= precise.f1
    assert ours.precision >= plain.precision


def test_full_mode_takes_over_where_the_precise_pass_finds_too_little() -> None:
    from trafilatura.utils import load_html

    from quarrycore.extract.maintext import FALLBACK_BELOW_CHARS, main_text, without_headline

    rescued = 0
    for html, _ in _pages():
        precise = trafilatura.bare_extraction(
            load_html(html), fast=True, favor_precision=True, include_comments=False
        )
        assert not isinstance(precise, dict)  # a Document (or None) without as_dict=True
        precise_text = (precise.text or "").strip() if precise else ""
        found = main_text(load_html(html), "http://b.test/a")
        if len(precise_text) >= FALLBACK_BELOW_CHARS:
            assert not found.full_mode
            assert found.text == without_headline(precise_text, found.title)
        elif found.full_mode:
            rescued += 1
            assert len(found.text) > len(without_headline(precise_text, found.title))
    assert rescued >= 3  # the benchmark has such pages: the fallback path is exercised


def test_the_metric() -> None:
    text = "one two three four five six seven"
    assert page_precision_recall(text, text) == (1.0, 1.0)
    assert page_precision_recall(text, "") == (0.0, 0.0)
    p, r = page_precision_recall(text, text + " eight nine ten eleven")
    assert r == 1.0 and p == pytest.approx(4 / 8)
    assert score([(text, text), (text, "")]).f1 == pytest.approx(0.5)
