"""Quality filters: small named steps; a dropped document carries the filter's reason.

Thresholds are settings (``QualityThresholds``) with defaults from published corpus
pipelines: Gopher (Rae et al. 2021, "Scaling Language Models", appendix A: quality and
repetition filters), C4 (Raffel et al. 2020: "lorem ipsum", bad-word and boilerplate
lines) and FineWeb (Penedo et al. 2024, which reuses Gopher's and C4's).
"""

from __future__ import annotations

import itertools
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from quarrycore.exceptions import (
    FilteredBoilerplate,
    FilteredLanguage,
    FilteredRepetition,
    FilteredSymbols,
    FilteredWordCount,
    Rejected,
)
from quarrycore.records import Document, Failure
from quarrycore.settings import QualityThresholds
from quarrycore.text import words as _words

Check = Callable[[Document, QualityThresholds], str | None]


@dataclass(frozen=True, slots=True)
class QualityFilter:
    name: str
    check: Check
    rejection: type[Rejected]  # the error type a dropped document is recorded with


def word_count(doc: Document, t: QualityThresholds) -> str | None:
    n = doc.word_count
    if n < t.min_words:
        return f"{n} words, fewer than {t.min_words}"
    if n > t.max_words:
        return f"{n} words, more than {t.max_words}"
    return None


def language(doc: Document, t: QualityThresholds) -> str | None:
    if t.languages and doc.language not in t.languages:
        return f"language {doc.language!r} is not one of {', '.join(t.languages)}"
    if t.languages and doc.language_score is not None and doc.language_score < t.min_language_score:
        return f"language score {doc.language_score:.2f} below {t.min_language_score}"
    return None


def _dup_fractions(parts: Sequence[str]) -> tuple[float, float]:
    """Fraction of parts that repeat an earlier one, and of their characters."""
    if not parts:
        return 0.0, 0.0
    seen: set[str] = set()
    dup = dup_chars = 0
    for part in parts:
        if part in seen:
            dup += 1
            dup_chars += len(part)
        seen.add(part)
    return dup / len(parts), dup_chars / max(1, sum(len(p) for p in parts))


def repetition(doc: Document, t: QualityThresholds) -> str | None:
    lines = [line.strip() for line in doc.text.splitlines() if line.strip()]
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", doc.text) if p.strip()]
    line_frac, line_chars = _dup_fractions(lines)
    if line_frac > t.max_dup_line_fraction:
        return f"{line_frac:.0%} of lines are duplicates"
    if line_chars > t.max_dup_line_char_fraction:
        return f"{line_chars:.0%} of characters are in duplicate lines"
    para_frac, _ = _dup_fractions(paragraphs)
    if para_frac > t.max_dup_paragraph_fraction:
        return f"{para_frac:.0%} of paragraphs are duplicates"
    words = _words(doc.text)
    total_chars = max(1, sum(len(w) for w in words))
    bigrams = Counter(itertools.pairwise(words))
    if bigrams:
        ((top, count),) = bigrams.most_common(1)
        if (
            count > 1
            and count * sum(len(w) for w in top) / total_chars > t.max_top_2gram_char_fraction
        ):
            return f"the 2-gram {' '.join(top)!r} covers too much of the text"
    grams = [tuple(words[i : i + 5]) for i in range(max(0, len(words) - 4))]
    counts = Counter(grams)
    covered = [False] * len(words)
    for i, gram in enumerate(grams):
        if counts[gram] > 1:
            covered[i : i + 5] = [True] * 5
    dup_chars = sum(len(w) for w, hit in zip(words, covered, strict=True) if hit)
    if dup_chars / total_chars > t.max_dup_5gram_char_fraction:
        return f"{dup_chars / total_chars:.0%} of characters are in repeated 5-grams"
    return None


def symbols(doc: Document, t: QualityThresholds) -> str | None:
    count = doc.text.count("#") + doc.text.count("...") + doc.text.count("…")
    ratio = count / max(1, doc.word_count)
    if ratio > t.max_symbol_word_ratio:
        return f"symbol-to-word ratio {ratio:.2f} above {t.max_symbol_word_ratio}"
    return None


def boilerplate(doc: Document, t: QualityThresholds) -> str | None:
    lower = doc.text.lower()
    for marker in t.boilerplate_markers:
        if marker in lower:
            return f"boilerplate marker {marker!r}"
    if doc.word_count < t.cookie_wall_max_words:
        for marker in t.cookie_wall_markers:
            if marker in lower:
                return f"a consent or script wall ({marker!r}), not content"
    return None


FILTERS: tuple[QualityFilter, ...] = (
    QualityFilter("word_count", word_count, FilteredWordCount),
    QualityFilter("language", language, FilteredLanguage),
    QualityFilter("boilerplate", boilerplate, FilteredBoilerplate),
    QualityFilter("repetition", repetition, FilteredRepetition),
    QualityFilter("symbols", symbols, FilteredSymbols),
)


def filter_failure(doc: Document, thresholds: QualityThresholds) -> Failure | None:
    """The document dropped by a quality filter, with the filter and reason; or None."""
    if not thresholds.enabled:
        return None
    for step in FILTERS:
        reason = step.check(doc, thresholds)
        if reason is not None:
            return Failure.from_error(doc.url, step.rejection(f"{step.name}: {reason}"))
    return None
