"""Quality filters: small named steps; a dropped document carries the filter's reason.

The reference filters are FineWeb's (Penedo et al. 2024), in its order: Gopher repetition,
Gopher quality (Rae et al. 2021, appendix A), C4 (Raffel et al. 2020) and FineWeb's own
rules, each computed exactly as datatrove 0.10 (the code FineWeb was made with) computes
it, with its default limits and its English word split: spaCy's rule-based tokenizer,
no model (quarrycore/extract/gopher.py, c4fineweb.py and wordsplit.py say how). A drop
names the filter, datatrove's name for the rule, the value measured and the limit
(filter ``gopher_repetition``, reason ``duplicated_5_n_grams: 18.2% of characters are
in repeated 5-grams, above the maximum 15.0%``). tests/unit/test_filters_reference.py
runs datatrove itself on real pages and asserts the same fractions and verdicts.

``word_count`` is Gopher quality's first two rules alone (50 to 100,000 words, counted as
Gopher counts them); ``language`` is an allow-list and FineWeb's 0.65 score;
``boilerplate`` is QuarryCore's own: "lorem ipsum" anywhere, and consent or script walls.
``QualityThresholds.filters`` names the filters that run, in order. On by default:
word_count, language, boilerplate and gopher_repetition, the roles of the filters on by
default before. Gopher quality, C4 and FineWeb's rules drop far more of what a user asks
for by URL (a quarter of the news articles of the extraction benchmark, most pages of a
documentation site: README, "Quality filters"); they are one setting away.

Filters judge; they never change the stored text. C4's line rules only narrow the text
that the FineWeb rules judge next, as C4's rewriting did in FineWeb's pipeline.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from itertools import islice

from quarrycore.extract.c4fineweb import c4, fineweb_measures
from quarrycore.extract.gopher import Drop, first_failure, quality_measures, repetition_measures
from quarrycore.extract.wordsplit import split_words
from quarrycore.quality_settings import QualityThresholds
from quarrycore.records import Document


@dataclass(slots=True)
class Judged:
    """A document on its way through the filters."""

    doc: Document
    text: str  # what the next filter judges: the document's text, or the lines C4 kept
    _words: dict[str, list[str]] = field(default_factory=dict)

    def words(self) -> list[str]:
        """The words of ``text`` (datatrove's English split), split once per text."""
        if self.text not in self._words:
            self._words[self.text] = split_words(self.text)
        return self._words[self.text]


Check = Callable[[Judged, QualityThresholds], Drop | None]


@dataclass(frozen=True, slots=True)
class QualityFilter:
    name: str
    check: Check


def word_count(judged: Judged, t: QualityThresholds) -> Drop | None:
    # Gopher quality's first two measures: its word count against min_words and max_words.
    return first_failure(islice(quality_measures(judged.text, t, judged.words), 2))


def language(judged: Judged, t: QualityThresholds) -> Drop | None:
    doc = judged.doc
    if t.languages and doc.language not in t.languages:
        return Drop("language", f"{doc.language!r} is not one of {', '.join(t.languages)}")
    if t.languages and doc.language_score is not None and doc.language_score < t.min_language_score:
        score = f"{doc.language_score:.2f}"
        return Drop("language_score", f"{score}, below the minimum {t.min_language_score}")
    return None


def boilerplate(judged: Judged, t: QualityThresholds) -> Drop | None:
    lower = judged.doc.text.lower()
    for marker in t.boilerplate_markers:
        if marker in lower:
            return Drop("marker", f"boilerplate marker {marker!r}")
    if judged.doc.word_count < t.cookie_wall_max_words:
        for marker in t.cookie_wall_markers:
            if marker in lower:
                return Drop("wall", f"a consent or script wall ({marker!r}), not content")
    return None


def gopher_repetition(judged: Judged, t: QualityThresholds) -> Drop | None:
    # The words are split only if the paragraph and line rules pass (they often fail).
    return first_failure(repetition_measures(judged.text, t, judged.words))


def gopher_quality(judged: Judged, t: QualityThresholds) -> Drop | None:
    return first_failure(quality_measures(judged.text, t, judged.words))


def c4_lines(judged: Judged, t: QualityThresholds) -> Drop | None:
    decided = c4(judged.text, t)
    if decided.drop is None:
        judged.text = decided.text  # what FineWeb's rules judge next; the document keeps all
    return decided.drop


def fineweb_quality(judged: Judged, t: QualityThresholds) -> Drop | None:
    return first_failure(fineweb_measures(judged.text, t, judged.words))


FILTERS: dict[str, QualityFilter] = {
    f.name: f
    for f in (
        QualityFilter("word_count", word_count),
        QualityFilter("language", language),
        QualityFilter("boilerplate", boilerplate),
        QualityFilter("gopher_repetition", gopher_repetition),
        QualityFilter("gopher_quality", gopher_quality),
        QualityFilter("c4", c4_lines),
        QualityFilter("fineweb_quality", fineweb_quality),
    )
}


def verdict(doc: Document, thresholds: QualityThresholds) -> tuple[str, Drop] | None:
    """The first filter that drops ``doc`` and why; None when every filter keeps it."""
    judged = Judged(doc, doc.text)
    for name in thresholds.filters:
        drop = FILTERS[name].check(judged, thresholds)
        if drop is not None:
            return name, drop
    return None


def with_verdict(doc: Document, thresholds: QualityThresholds) -> Document:
    """``doc`` with the verdict of ``thresholds``' filters (kept when they are off): what
    the extract step stores, and what a refilter compares with the stored verdict."""
    dropped = verdict(doc, thresholds) if thresholds.enabled else None
    if dropped is None:
        return replace(doc, filter=None, filter_reason=None)
    name, reason = dropped
    return replace(doc, filter=name, filter_reason=str(reason))
