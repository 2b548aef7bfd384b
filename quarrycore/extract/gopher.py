"""Gopher's repetition and quality rules (Rae et al. 2021, "Scaling Language Models",
appendix A, table A1), computed exactly as datatrove 0.10 computes them
(``GopherRepetitionFilter``, ``GopherQualityFilter``), which is how FineWeb applied them.

Repetition, in datatrove's order (the first rule over its limit names the drop):
paragraphs (``text.strip()`` split on ``\\n{2,}``) and lines (``text`` split on ``\\n+``)
that repeat an earlier one, by count and by characters; the most frequent 2-, 3- and
4-gram (space-joined words; its length times its count); then, for n = 5…10, the
characters of repeated n-grams counted as ``find_all_duplicate`` does: the word list is
walked once, an n-gram met before adds its characters (its words joined without spaces)
and the walk jumps n words ahead, so the first occurrence never counts and overlapping
repeats count once. Every character fraction is over ``len(text)``.

Words are datatrove's English words (quarrycore/extract/wordsplit.py). A limit of 0 turns
a paragraph, line or quality rule off, as a falsy option does in datatrove; an n-gram rule
is off when its n is left out of ``top_ngram_char_fractions``/``dup_ngram_char_fractions``.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import accumulate

from quarrycore.extract.wordsplit import PUNCTUATION_SET, split_words
from quarrycore.quality_settings import QualityThresholds

PARAGRAPH_SPLIT = re.compile(r"\n{2,}")
LINE_SPLIT = re.compile("\n+")


@dataclass(frozen=True, slots=True)
class Drop:
    """Why a filter drops a document: the reference's rule name and what was measured."""

    rule: str
    detail: str

    def __str__(self) -> str:
        return f"{self.rule}: {self.detail}"


@dataclass(frozen=True, slots=True)
class Measure:
    """One rule measured on a text: ``value`` against ``limit`` (None: the rule is off)."""

    rule: str  # datatrove's name for the rule (its drop reason)
    value: float
    limit: float | None
    what: str  # what the value is, for the drop reason
    at_least: bool = False  # the limit is a minimum (else a maximum)

    @property
    def failed(self) -> bool:
        if self.limit is None:
            return False
        return self.value < self.limit if self.at_least else self.value > self.limit

    @property
    def drop(self) -> Drop:
        value, limit = _show(self.value, self.what), _show(self.limit or 0, self.what)
        bound = "below the minimum" if self.at_least else "above the maximum"
        return Drop(self.rule, f"{value} {self.what}, {bound} {limit}")


def _show(number: float, what: str) -> str:
    if what.startswith("of "):  # a fraction
        return f"{number:.1%}"
    return str(int(number)) if math.isfinite(number) and number == int(number) else f"{number:g}"


def first_failure(measures: Iterable[Measure]) -> Drop | None:
    """The first rule over its limit (the measures after it are never computed)."""
    failed = next((m for m in measures if m.failed), None)
    return None if failed is None else failed.drop


def find_duplicates(parts: Sequence[str]) -> tuple[int, int]:
    """Parts equal to an earlier part: how many, and their characters."""
    seen: set[str] = set()
    count = chars = 0
    for part in parts:
        if part in seen:
            count += 1
            chars += len(part)
        else:
            seen.add(part)
    return count, chars


def get_n_grams(words: Sequence[str], n: int) -> list[str]:
    return [" ".join(words[i : i + n]) for i in range(len(words) - n + 1)]


def find_top_duplicate(n_grams: Sequence[str]) -> int:
    """Characters of the most frequent n-gram times its count (ties: the first seen)."""
    ((gram, count),) = Counter(n_grams).most_common(1)
    return len(gram) * count


def find_all_duplicate(words: Sequence[str], n: int) -> int:
    """Characters of repeated n-grams, walking ahead past each repeat."""
    joined = "".join(words)  # an n-gram is its words joined without spaces, as there
    starts = list(accumulate(map(len, words), initial=0))
    seen: set[str] = set()
    chars = i = 0
    while i < len(words) - n + 1:
        gram = joined[starts[i] : starts[i + n]]
        if gram in seen:
            chars += len(gram)
            i += n
        else:
            seen.add(gram)
            i += 1
    return chars


def repetition_measures(
    text: str, t: QualityThresholds, split: Callable[[], Sequence[str]] | None = None
) -> Iterator[Measure]:
    """Gopher's repetition rules on ``text``, in datatrove's order, computed lazily."""
    if not text:
        yield Measure("empty", 0, 1, "characters", at_least=True)
        return
    paragraphs = PARAGRAPH_SPLIT.split(text.strip())
    count, chars = find_duplicates(paragraphs)
    yield Measure(
        "dup_para_frac",
        count / len(paragraphs),
        t.max_dup_paragraph_fraction or None,
        "of paragraphs repeat an earlier one",
    )
    yield Measure(
        "dup_para_char_frac",
        chars / len(text),
        t.max_dup_paragraph_char_fraction or None,
        "of characters are in repeated paragraphs",
    )
    lines = LINE_SPLIT.split(text)
    count, chars = find_duplicates(lines)
    yield Measure(
        "dup_line_frac",
        count / len(lines),
        t.max_dup_line_fraction or None,
        "of lines repeat an earlier one",
    )
    yield Measure(
        "dup_line_char_frac",
        chars / len(text),
        t.max_dup_line_char_fraction or None,
        "of characters are in repeated lines",
    )
    words = split_words(text) if split is None else split()
    for n, limit in t.top_ngram_char_fractions.items():
        if n_grams := get_n_grams(words, n):
            yield Measure(
                f"top_{n}_gram",
                find_top_duplicate(n_grams) / len(text),
                limit,
                f"of characters are the most frequent {n}-gram",
            )
    for n, limit in t.dup_ngram_char_fractions.items():
        yield Measure(
            f"duplicated_{n}_n_grams",
            find_all_duplicate(words, n) / len(text),
            limit,
            f"of characters are in repeated {n}-grams",
        )


def quality_measures(
    text: str, t: QualityThresholds, split: Callable[[], Sequence[str]] | None = None
) -> Iterator[Measure]:
    """Gopher's quality rules on ``text``, in datatrove's order, computed lazily."""
    words = split_words(text) if split is None else split()
    n_words = max(1, len(words))  # datatrove divides by zero here; we never see no words
    kept = [w for w in words if any(ch not in PUNCTUATION_SET for ch in w)]
    yield Measure("gopher_short_doc", len(kept), t.min_words or None, "words", at_least=True)
    yield Measure("gopher_long_doc", len(kept), t.max_words or None, "words")
    mean = sum(len(w) for w in kept) / len(kept) if kept else math.nan  # np.mean: nan
    what = "characters per word on average"
    yield Measure("gopher_below_avg_threshold", mean, t.min_avg_word_length or None, what, True)
    yield Measure("gopher_above_avg_threshold", mean, t.max_avg_word_length or None, what)
    symbols = t.max_symbol_word_ratio or None
    yield Measure("gopher_too_many_hashes", text.count("#") / n_words, symbols, "'#' per word")
    ellipses = (text.count("...") + text.count("…")) / n_words
    yield Measure("gopher_too_many_ellipsis", ellipses, symbols, "ellipses per word")
    lines = text.splitlines()
    n_lines = max(1, len(lines))
    bullets = sum(s.lstrip().startswith("•") or s.lstrip().startswith("-") for s in lines)
    yield Measure(
        "gopher_too_many_bullets",
        bullets / n_lines,
        t.max_bullet_lines_ratio or None,
        "of lines start with a bullet",
    )
    trailing = sum(s.rstrip().endswith("...") or s.rstrip().endswith("…") for s in lines)
    yield Measure(
        "gopher_too_many_end_ellipsis",
        trailing / n_lines,
        t.max_ellipsis_lines_ratio or None,
        "of lines end with an ellipsis",
    )
    alpha = sum(any(c.isalpha() for c in w) for w in words) / n_words
    yield Measure(
        "gopher_below_alpha_threshold",
        alpha,
        t.min_alpha_words_ratio or None,
        "of words have a letter",
        at_least=True,
    )
    stop = len(set(t.stop_words).intersection(words))
    yield Measure(
        "gopher_enough_stop_words",
        stop,
        t.min_stop_words or None,
        "distinct stop words",
        at_least=True,
    )
