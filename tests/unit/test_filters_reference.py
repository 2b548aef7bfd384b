"""Our Gopher, C4 and FineWeb filters against datatrove's own code, on real pages.

Every page of the shared article benchmark (181) and pages of a documentation site (the
Python 3.11 docs, tests/support/docsite.py; every fifth page by path, all of them with
QUARRY_RUN_SLOW=1) is extracted with our extractor; then, on each text:

- our words equal datatrove's ``split_into_words`` (spaCy's English tokenizer);
- every Gopher repetition fraction equals the one computed from datatrove's
  ``find_duplicates``, ``find_top_duplicate`` and ``find_all_duplicate`` the way
  ``GopherRepetitionFilter.filter`` does, as an exact float;
- our verdict (keep, or the rule that drops) equals ``filter(doc)`` of datatrove's
  ``GopherRepetitionFilter``, ``GopherQualityFilter``, ``C4QualityFilter`` and
  ``FineWebQualityFilter`` built with our settings; the lines C4 keeps equal the text
  datatrove's C4 leaves in the document, and FineWeb judges those lines (as in FineWeb's
  pipeline; the original text where C4 drops the page);
- the pipeline's verdict is the first of those drops.

Pages are judged in two spawned processes (our extraction, and datatrove's spaCy calls
in a ``memory_zone``, are most of the time). ``pytest -s`` prints the share of pages each
filter keeps. datatrove is a dev dependency; nothing is downloaded for these filters.
"""

from __future__ import annotations

import inspect
import multiprocessing
import os
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from typing import Any

import pytest

from quarrycore.extract import c4fineweb, gopher, wordsplit
from quarrycore.extract.filters import Judged, verdict, word_count
from quarrycore.extract.page import extract_page
from quarrycore.quality_settings import QualityThresholds
from quarrycore.records import Document, FetchedPage
from quarrycore.settings import TRACKING_PARAMS
from tests.conftest import load_benchmark, require_benchmark
from tests.support.docsite import docsite_pages

datatrove = pytest.importorskip("datatrove", reason="datatrove is a dev dependency")

from datatrove.data import Document as ReferenceDocument  # noqa: E402
from datatrove.pipeline.filters import (  # noqa: E402  # noqa: E402
    C4QualityFilter,
    FineWebQualityFilter,
    GopherQualityFilter,
    GopherRepetitionFilter,
    c4_filters,
    gopher_quality_filter,
)
from datatrove.pipeline.filters.gopher_repetition_filter import (  # noqa: E402
    find_all_duplicate,
    find_duplicates,
    find_top_duplicate,
    get_n_grams,
)
from datatrove.utils import text as reference_text  # noqa: E402

REFERENCE = ("gopher_repetition", "gopher_quality", "c4", "fineweb_quality")
DOCSITE_EVERY = 1 if os.environ.get("QUARRY_RUN_SLOW") == "1" else 5


@cache
def _thresholds() -> QualityThresholds:
    return QualityThresholds(filters=list(REFERENCE))


@cache
def _reference_filters() -> tuple[Any, Any, Any, Any]:
    """datatrove's four filters with the options our settings give."""
    t = _thresholds()
    return (
        GopherRepetitionFilter(
            dup_line_frac=t.max_dup_line_fraction,
            dup_para_frac=t.max_dup_paragraph_fraction,
            dup_line_char_frac=t.max_dup_line_char_fraction,
            dup_para_char_frac=t.max_dup_paragraph_char_fraction,
            top_n_grams=tuple(t.top_ngram_char_fractions.items()),
            dup_n_grams=tuple(t.dup_ngram_char_fractions.items()),
        ),
        GopherQualityFilter(
            min_doc_words=t.min_words,
            max_doc_words=t.max_words,
            min_avg_word_length=t.min_avg_word_length,
            max_avg_word_length=t.max_avg_word_length,
            max_symbol_word_ratio=t.max_symbol_word_ratio,
            max_bullet_lines_ratio=t.max_bullet_lines_ratio,
            max_ellipsis_lines_ratio=t.max_ellipsis_lines_ratio,
            max_non_alpha_words_ratio=t.min_alpha_words_ratio,
            min_stop_words=t.min_stop_words,
            stop_words=t.stop_words,
        ),
        C4QualityFilter(
            filter_no_terminal_punct=t.c4_terminal_punct,
            min_num_sentences=t.c4_min_sentences,
            min_words_per_line=t.c4_min_words_per_line,
            max_word_length=t.c4_max_word_length,
            filter_curly_bracket=t.c4_curly_bracket,
        ),
        FineWebQualityFilter(
            line_punct_thr=t.fineweb_min_line_punct_ratio,
            short_line_thr=t.fineweb_max_short_line_ratio,
            short_line_length=t.fineweb_short_line_length,
            char_duplicates_ratio=t.fineweb_max_dup_line_char_ratio,
            new_line_ratio=t.fineweb_max_newline_word_ratio,
        ),
    )


def _reference_repetition_fractions(text: str) -> dict[str, float]:
    """Every fraction ``GopherRepetitionFilter.filter`` compares, from its own functions
    and splits (it stops at the first over its limit; here all are computed)."""
    rep = _reference_filters()[0]
    paragraphs = rep.paragraph_exp.split(text.strip())
    para_dups, para_chars = find_duplicates(paragraphs)
    lines = rep._line_splitter.split(text)
    line_dups, line_chars = find_duplicates(lines)
    fractions = {
        "dup_para_frac": para_dups / len(paragraphs),
        "dup_para_char_frac": para_chars / len(text),
        "dup_line_frac": line_dups / len(lines),
        "dup_line_char_frac": line_chars / len(text),
    }
    words = reference_text.split_into_words(text, rep.language)
    for n, _ in rep.top_n_grams:
        if n_grams := get_n_grams(words, n):
            fractions[f"top_{n}_gram"] = find_top_duplicate(n_grams) / len(text)
    for n, _ in rep.dup_n_grams:
        fractions[f"duplicated_{n}_n_grams"] = find_all_duplicate(words, n) / len(text)
    return fractions


def _reason(result: bool | tuple[bool, str]) -> str:
    if result is True:
        return "keep"
    assert isinstance(result, tuple) and result[0] is False
    return result[1]


def _rule(drop: gopher.Drop | None) -> str:
    return "keep" if drop is None else drop.rule


@dataclass
class PageVerdict:
    name: str
    extracted: bool = True
    filters: dict[str, str] = field(default_factory=dict)  # filter -> "keep" or its rule
    pipeline: str = "keep"  # FineWeb's chain: the first "filter: rule" that drops
    problems: list[str] = field(default_factory=list)


def _document(name: str, html: bytes) -> Document | None:
    url = f"http://corpus.test/{name}"
    page = FetchedPage(
        url=url,
        final_url=url,
        status_code=200,
        content_type="text/html",
        html=html.decode("utf-8", "replace"),
        encoding="utf-8",
        fetched_at=datetime.now(UTC),
    )
    result = extract_page(page, drop=TRACKING_PARAMS, robots_meta=False)
    return result if isinstance(result, Document) else None


def judge(item: tuple[str, bytes]) -> PageVerdict:
    """One page, ours against datatrove's (runs in a worker process)."""
    name, html = item
    doc = _document(name, html)
    if doc is None:
        return PageVerdict(name, extracted=False)
    text, t, judged = doc.text, _thresholds(), PageVerdict(name)
    problems = judged.problems
    words = wordsplit.split_words(text)
    if words != reference_text.split_into_words(text):
        problems.append("words differ from datatrove's split_into_words")
    ours = {m.rule: m.value for m in gopher.repetition_measures(text, t, lambda: words)}
    if ours != (theirs := _reference_repetition_fractions(text)):
        problems.append(f"repetition fractions: ours {ours}, datatrove {theirs}")

    rep, quality, c4, fineweb = _reference_filters()
    their_c4 = ReferenceDocument(text=text, id=name)
    theirs_by_filter = {
        "gopher_repetition": _reason(rep.filter(ReferenceDocument(text=text, id=name))),
        "gopher_quality": _reason(quality.filter(ReferenceDocument(text=text, id=name))),
        "c4": _reason(c4.filter(their_c4)),
    }
    our_c4 = c4fineweb.c4(text, t)
    # FineWeb judges what C4 keeps (FineWeb's pipeline); the whole text where C4 drops.
    fineweb_text = our_c4.text if our_c4.drop is None else text
    if our_c4.drop is None and our_c4.text != their_c4.text:
        problems.append("the lines C4 keeps differ from the text datatrove's C4 leaves")
    theirs_by_filter["fineweb_quality"] = _reason(
        fineweb.filter(ReferenceDocument(text=fineweb_text, id=name))
    )
    fineweb_words = None if fineweb_text != text else (lambda: words)
    judged.filters = {
        "gopher_repetition": _rule(
            gopher.first_failure(gopher.repetition_measures(text, t, lambda: words))
        ),
        "gopher_quality": _rule(
            gopher.first_failure(gopher.quality_measures(text, t, lambda: words))
        ),
        "c4": _rule(our_c4.drop),
        "fineweb_quality": _rule(
            gopher.first_failure(c4fineweb.fineweb_measures(fineweb_text, t, fineweb_words))
        ),
    }
    if judged.filters != theirs_by_filter:
        problems.append(f"verdicts: ours {judged.filters}, datatrove {theirs_by_filter}")
    # word_count: Gopher quality's word-count rules alone.
    counted = theirs_by_filter["gopher_quality"]
    counted = counted if counted in ("gopher_short_doc", "gopher_long_doc") else "keep"
    if (ours_counted := _rule(word_count(Judged(doc, text), t))) != counted:
        problems.append(f"word_count: ours {ours_counted}, datatrove {counted}")

    # The pipeline as it runs (quarrycore.extract.filters.verdict): the first drop.
    expected = next(
        (f"{step}: {rule}" for step, rule in theirs_by_filter.items() if rule != "keep"), "keep"
    )
    dropped = verdict(doc, t)
    judged.pipeline = "keep" if dropped is None else f"{dropped[0]}: {dropped[1].rule}"
    if judged.pipeline != expected:
        problems.append(f"pipeline: ours {judged.pipeline}, datatrove {expected}")
    return judged


@pytest.fixture(scope="module")
def pool() -> Iterator[ProcessPoolExecutor]:
    context = multiprocessing.get_context("spawn")  # no fork of a threaded test process
    with ProcessPoolExecutor(max_workers=2, mp_context=context) as executor:
        yield executor


def _judge_all(pool: ProcessPoolExecutor, pages: dict[str, bytes]) -> list[PageVerdict]:
    # Largest first, so the two processes end together.
    items = sorted(pages.items(), key=lambda item: -len(item[1]))
    return list(pool.map(judge, items, chunksize=2))


def _report(corpus: str, results: list[PageVerdict]) -> Iterator[str]:
    pages = [r for r in results if r.extracted]
    yield f"{corpus}: {len(results)} pages, {len(pages)} with text"
    for name in (*REFERENCE, "pipeline"):
        verdicts = Counter(r.pipeline if name == "pipeline" else r.filters[name] for r in pages)
        kept = verdicts.pop("keep", 0)
        rules = ", ".join(f"{rule} {count}" for rule, count in verdicts.most_common())
        yield f"  {name:18} kept {kept / len(pages):6.1%}  dropped {rules or '-'}"


def _assert_same(corpus: str, results: list[PageVerdict]) -> None:
    print("\n" + "\n".join(_report(corpus, results)))
    problems = [f"{r.name}: {p}" for r in results for p in r.problems]
    assert not problems, f"{len(problems)} differences, e.g.:\n" + "\n".join(problems[:10])


def test_the_benchmark_pages_get_datatroves_fractions_and_verdicts(
    pool: ProcessPoolExecutor,
) -> None:
    require_benchmark()
    pages = {name: html for name, (html, _) in load_benchmark().items()}
    assert len(pages) == 181
    results = _judge_all(pool, pages)
    assert sum(r.extracted for r in results) >= 175
    _assert_same("article benchmark", results)


def test_the_documentation_site_gets_datatroves_fractions_and_verdicts(
    pool: ProcessPoolExecutor,
) -> None:
    pages = docsite_pages()
    assert len(pages) >= 500
    results = _judge_all(pool, dict(list(pages.items())[::DOCSITE_EVERY]))
    assert sum(r.extracted for r in results) >= len(results) * 0.95
    _assert_same(f"Python 3.11 docs ({len(results)} of {len(pages)} pages)", results)


def test_defaults_and_constants_are_datatroves() -> None:
    defaults = {
        cls: {k: p.default for k, p in inspect.signature(cls.__init__).parameters.items()}
        for cls in (GopherRepetitionFilter, GopherQualityFilter, C4QualityFilter)
    }
    t = QualityThresholds()
    rep, quality, c4 = (defaults[c] for c in defaults)
    fineweb = inspect.signature(FineWebQualityFilter.__init__).parameters
    assert (t.max_dup_line_fraction, t.max_dup_paragraph_fraction) == (
        rep["dup_line_frac"],
        rep["dup_para_frac"],
    )
    assert (t.max_dup_line_char_fraction, t.max_dup_paragraph_char_fraction) == (
        rep["dup_line_char_frac"],
        rep["dup_para_char_frac"],
    )
    assert tuple(t.top_ngram_char_fractions.items()) == rep["top_n_grams"]
    assert tuple(t.dup_ngram_char_fractions.items()) == rep["dup_n_grams"]
    assert (t.min_words, t.max_words) == (quality["min_doc_words"], quality["max_doc_words"])
    assert (t.min_avg_word_length, t.max_avg_word_length) == (
        quality["min_avg_word_length"],
        quality["max_avg_word_length"],
    )
    assert t.max_symbol_word_ratio == quality["max_symbol_word_ratio"]
    assert t.max_bullet_lines_ratio == quality["max_bullet_lines_ratio"]
    assert t.max_ellipsis_lines_ratio == quality["max_ellipsis_lines_ratio"]
    assert t.min_alpha_words_ratio == quality["max_non_alpha_words_ratio"]  # their misnomer
    assert t.min_stop_words == quality["min_stop_words"]
    assert t.stop_words == gopher_quality_filter.STOP_WORDS
    # C4 as FineWeb ran it: datatrove's defaults but filter_no_terminal_punct=False.
    assert c4["filter_no_terminal_punct"] is True and t.c4_terminal_punct is False
    assert t.c4_curly_bracket == c4["filter_curly_bracket"]
    assert t.c4_min_sentences == c4["min_num_sentences"]
    assert t.c4_min_words_per_line == c4["min_words_per_line"]
    assert t.c4_max_word_length == c4["max_word_length"]
    assert all(c4[k] is True for k in ("remove_citations", "filter_lorem_ipsum"))
    assert all(c4[k] is True for k in ("filter_javascript", "filter_policy", "split_paragraph"))
    assert t.fineweb_min_line_punct_ratio == fineweb["line_punct_thr"].default
    assert fineweb["line_punct_exclude_zero"].default is False
    assert t.fineweb_max_short_line_ratio == fineweb["short_line_thr"].default
    assert t.fineweb_short_line_length == fineweb["short_line_length"].default
    assert t.fineweb_max_dup_line_char_ratio == fineweb["char_duplicates_ratio"].default
    assert t.fineweb_max_newline_word_ratio == fineweb["new_line_ratio"].default
    # The vendored constants.
    assert wordsplit.PUNCTUATION == reference_text.PUNCTUATION
    assert wordsplit.TERMINAL_PUNCTUATION == reference_text.TERMINAL_PUNCTUATION
    assert wordsplit.PUNCTUATION_SET == reference_text.PUNCTUATION_SET
    assert c4fineweb.CITATION.pattern == c4_filters.CITATION_REGEX.pattern
    assert c4fineweb.END_PUNCTUATION == c4_filters.END_PUNCTUATION
    assert list(c4fineweb.POLICY_PHRASES) == c4_filters.POLICY_SUBSTRINGS
    assert gopher.PARAGRAPH_SPLIT.pattern == GopherRepetitionFilter().paragraph_exp.pattern
    assert gopher.LINE_SPLIT.pattern == GopherRepetitionFilter()._line_splitter.pattern


@pytest.mark.parametrize(
    "text",
    [
        "a.  ! b",  # a double space is a token of spaCy's: here it starts a sentence
        "Hello.\tWorld. And more",
        " Leading space. x",
        'Mr. Smith went to Washington. He said "hi." Then he left!',
        "U.S. troops e.g. left... (Really.) Yes?! No",
        "End.\u00a0 Next \u2003 one. two",
        "",
        "don't can't it's 10km $5.00 :) http://example.com/a?b=c#d e-mail",
    ],
)
def test_words_and_sentences_split_as_datatrove_does(text: str) -> None:
    assert wordsplit.split_words(text) == reference_text.split_into_words(text)
    assert wordsplit.count_sentences(text) == len(reference_text.split_into_sentences(text))


def test_a_repeat_is_found_wherever_the_words_join_the_same() -> None:
    # find_all_duplicate joins an n-gram's words without spaces: "ab c" repeats "a bc".
    words = ["x", "ab", "c", "y", "a", "bc"]
    assert gopher.find_all_duplicate(words, 2) == find_all_duplicate(words, 2) == 3
