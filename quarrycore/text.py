"""Words and text identity: the one tokenizer the core counts and compares with.

``\\w+`` (Unicode letters, digits and underscore) is the word: it is what the
near-duplicate shingles and ``Document.word_count`` count. The Gopher, C4 and FineWeb
quality rules count words as their reference implementation splits them (spaCy's English
tokenizer: quarrycore/extract/wordsplit.py), so their thresholds mean what they meant there.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

WORD = re.compile(r"\w+")


def words(text: str) -> list[str]:
    """The words of ``text``, lower-cased (for comparing and counting n-grams)."""
    return WORD.findall(text.lower())


def count_words(text: str) -> int:
    return len(WORD.findall(text))


def normalize_text(text: str) -> str:
    """The form two texts share when they differ only in Unicode form or whitespace."""
    return " ".join(unicodedata.normalize("NFKC", text).split())


def content_hash(text: str) -> str:
    """The exact-duplicate key of a text: SHA-256 of its normalised form."""
    return hashlib.sha256(normalize_text(text).encode("utf-8")).hexdigest()
