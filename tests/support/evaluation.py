"""The ScrapingHub article-extraction benchmark's metric, for tests and benchmarks.

Both texts are split into word tokens (``\\w+``) and 4-token shingles with counts; per
page, TP/FP/FN come from the two multisets and are rescaled to sum to 1; precision and
recall are averaged over pages and F1 is computed from the two averages.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

_TOKEN = re.compile(r"\w+")
SHINGLE = 4


def shingles(text: str, n: int = SHINGLE) -> Counter[tuple[str, ...]]:
    tokens = _TOKEN.findall(text)
    return Counter(tuple(tokens[i : i + n]) for i in range(max(0, len(tokens) - n + 1)))


def page_precision_recall(expected: str, predicted: str) -> tuple[float, float]:
    truth, guess = shingles(expected), shingles(predicted)
    tp = sum((truth & guess).values())
    fp = sum((guess - truth).values())
    fn = sum((truth - guess).values())
    total = tp + fp + fn
    if total == 0:
        return 1.0, 1.0  # nothing to find and nothing found
    tp_r, fp_r, fn_r = tp / total, fp / total, fn / total
    precision = tp_r / (tp_r + fp_r) if tp_r + fp_r else 0.0
    recall = tp_r / (tp_r + fn_r) if tp_r + fn_r else 0.0
    return precision, recall


@dataclass(frozen=True, slots=True)
class Score:
    precision: float
    recall: float

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


def score(pairs: Iterable[tuple[str, str]]) -> Score:
    """Score (expected, predicted) text pairs."""
    results = [page_precision_recall(expected, predicted) for expected, predicted in pairs]
    if not results:
        return Score(0.0, 0.0)
    return Score(
        sum(p for p, _ in results) / len(results), sum(r for _, r in results) / len(results)
    )
