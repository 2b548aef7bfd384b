"""C4's line rules (Raffel et al. 2020, section 2.2) and FineWeb's own quality rules
(Penedo et al. 2024, section 3.3), computed exactly as datatrove 0.10's
``C4QualityFilter`` and ``FineWebQualityFilter`` compute them.

C4 walks ``text.splitlines()``: each line is stripped and split on whitespace; a line
with a word over ``c4_max_word_length`` characters is dropped, then ``[1]``-, ``[edit]``-
and ``[citation needed]``-style citations are removed from it; with
``c4_terminal_punct`` a line not ending in ``. ? ! " '`` (or ending in ``...``) is
dropped; so is a line of fewer than ``c4_min_words_per_line`` words, one that mentions
"javascript", or one with a cookie or terms-of-use phrase. A kept line saying "lorem
ipsum", or (``c4_curly_bracket``) holding a ``{``, drops the whole document; so do fewer
than ``c4_min_sentences`` sentences (spaCy's sentencizer, per kept line) in the lines kept.

**A verdict only.** datatrove's filter also rewrites the document to the lines it keeps.
We never change the stored text: C4 here only judges. The kept lines are the text the
FineWeb rules judge next, as they did in FineWeb's pipeline (where C4 ran before them,
with ``filter_no_terminal_punct=False``: our default); the stored document keeps all of
its lines.

FineWeb's rules, over the non-blank lines of ``text.split("\\n")``: at least 12 % end in
terminal punctuation (Unicode's Sentence_Terminal characters); at most 67 % are 30
characters or shorter; the characters of lines repeating an earlier one are at most 1 %
of the text's characters other than newlines; newlines per word at most 0.3.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from quarrycore.extract.gopher import Drop, Measure, find_duplicates
from quarrycore.extract.wordsplit import TERMINAL_PUNCTUATION, count_sentences, split_words
from quarrycore.quality_settings import QualityThresholds

CITATION = re.compile(r"\[\d*]|\[edit]|\[citation needed]")
END_PUNCTUATION = (".", "?", "!", '"', "'")
POLICY_PHRASES = (
    "terms of use",
    "privacy policy",
    "cookie policy",
    "uses cookies",
    "use of cookies",
    "use cookies",
)
STOP_CHARS = tuple(TERMINAL_PUNCTUATION)


@dataclass(frozen=True, slots=True)
class C4Verdict:
    drop: Drop | None
    text: str  # the lines C4 keeps, joined by newlines: what the FineWeb rules judge
    sentences: int  # sentences of the kept lines, counted up to c4_min_sentences


def c4(text: str, t: QualityThresholds) -> C4Verdict:
    """C4's verdict on ``text`` and the lines it keeps (``text`` itself is not changed)."""
    sentences = 0
    kept: list[str] = []
    for line in text.splitlines():
        line = line.strip()
        words = line.split()
        if t.c4_max_word_length != -1 and any(len(w) > t.c4_max_word_length for w in words):
            continue
        line = CITATION.sub("", line)
        if t.c4_terminal_punct and (not line.endswith(END_PUNCTUATION) or line.endswith("...")):
            continue
        if len(words) < t.c4_min_words_per_line:
            continue
        lower = line.lower()
        if "lorem ipsum" in lower:
            return C4Verdict(
                Drop("lorem_ipsum", f"a line says 'lorem ipsum': {line[:80]!r}"), "", 0
            )
        if "javascript" in lower:
            continue
        if t.c4_curly_bracket and "{" in line:
            return C4Verdict(Drop("curly_bracket", f"a line has '{{': {line[:80]!r}"), "", 0)
        if any(phrase in lower for phrase in POLICY_PHRASES):
            continue
        # Sentences are counted only up to the minimum: past it the verdict cannot change.
        if t.c4_min_sentences != -1 and sentences < t.c4_min_sentences:
            sentences += count_sentences(line)
        kept.append(line)
    if sentences < t.c4_min_sentences:
        detail = f"{sentences} sentences in the lines kept, below the minimum {t.c4_min_sentences}"
        return C4Verdict(Drop("too_few_sentences", detail), "", sentences)
    return C4Verdict(None, "\n".join(kept).strip(), sentences)


def fineweb_measures(
    text: str, t: QualityThresholds, split: Callable[[], Sequence[str]] | None = None
) -> Iterator[Measure]:
    """FineWeb's quality rules on ``text``, in datatrove's order, computed lazily."""
    lines = [line for line in text.split("\n") if line.strip() != ""]
    if not lines:
        yield Measure("empty", 0, 1, "non-blank lines", at_least=True)
        return
    ratio = sum(1 for line in lines if line.endswith(STOP_CHARS)) / len(lines)
    yield Measure(
        "line_punct_ratio",
        ratio,
        t.fineweb_min_line_punct_ratio,
        "of lines end in terminal punctuation",
        at_least=True,
    )
    ratio = sum(1 for line in lines if len(line) <= t.fineweb_short_line_length) / len(lines)
    yield Measure(
        "short_line_ratio",
        ratio,
        t.fineweb_max_short_line_ratio,
        f"of lines are {t.fineweb_short_line_length} characters or shorter",
    )
    ratio = find_duplicates(lines)[1] / len(text.replace("\n", ""))
    yield Measure(
        "char_dup_ratio",
        ratio,
        t.fineweb_max_dup_line_char_ratio,
        "of characters are in repeated lines",
    )
    words = split_words(text) if split is None else split()
    # datatrove divides by zero without words; a non-blank line always has one.
    ratio = text.count("\n") / max(1, len(words))
    yield Measure("list_ratio", ratio, t.fineweb_max_newline_word_ratio, "newlines per word")
