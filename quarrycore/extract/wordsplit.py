"""Words and sentences as the reference filters split them, and their punctuation sets.

The Gopher, C4 and FineWeb rules count words, and their thresholds were tuned on words as
datatrove (the implementation FineWeb was built with) splits them. For English datatrove
0.10 uses ``SpaCyTokenizer("en")``: spaCy's rule-based English tokenizer of a blank
pipeline (``spacy.blank("en")``: prefix, suffix and infix rules and the English tokenizer
exceptions; no statistical model, nothing to download) plus the rule-based
``sentencizer``; tokens are stripped and empty ones dropped. We call the same spaCy
objects: no regular expression we could write gives the same tokens on real pages
("U.S.", "don't", "e.g.", URLs, emoticons, "10km"), and a different split moves every
word-based fraction. ``\\w+`` (quarrycore/text.py) stays the tokenizer of ``word_count``
and of the near-duplicate shingles.

spaCy is loaded once per process, on first use (~1 s, ~60 MB), and renewed whenever its
string store passes ``_MAX_STRINGS``, so a long crawl's memory stays bounded.
"""

from __future__ import annotations

from functools import cache
from typing import Any

# datatrove.utils.text.PUNCTUATION: ASCII and CJK punctuation and the C0/C1 controls
# except tab, newline and carriage return.
PUNCTUATION = (
    "!/—”:％１〈&(、━\\【#%「」，】；+^]~“《„';’{|∶´[=-`*．（–？！：$～«〉,><》)?）。…@_.\"}►»"
    + ("".join(chr(c) for a, b in ((0, 9), (11, 13), (13, 32), (127, 160)) for c in range(a, b)))
)
# datatrove.utils.text.TERMINAL_PUNCTUATION: the characters of Unicode's Sentence_Terminal
# property (FineWeb's "line ends in punctuation").
TERMINAL_PUNCTUATION = frozenset(
    "!.?\u0589\u061d\u061e\u061f\u06d4\u0700\u0701\u0702\u07f9\u0837\u0839\u083d\u083e"
    "\u0964\u0965\u104a\u104b\u1362\u1367\u1368\u166e\u1735\u1736\u17d4\u17d5\u17d6\u17d9"
    "\u17da\u1803\u1809\u1944\u1945\u1aa8\u1aa9\u1aaa\u1aab\u1b5a\u1b5b\u1b5e\u1b5f\u1b7d"
    "\u1b7e\u1c3b\u1c3c\u1c7e\u1c7f\u203c\u203d\u2047\u2048\u2049\u2e2e\u2e3c\u2e53\u2e54"
    "\u3002\ua4ff\ua60e\ua60f\ua6f3\ua6f7\ua876\ua877\ua8ce\ua8cf\ua92f\ua9c8\ua9c9\uaa5d"
    "\uaa5e\uaa5f\uaaf0\uaaf1\uabeb\ufe52\ufe56\ufe57\uff01\uff0e\uff1f\uff61\U00010a56"
    "\U00010a57\U00010f55\U00010f56\U00010f57\U00010f58\U00010f59\U00010f86\U00010f87"
    "\U00010f88\U00010f89\U00011047\U00011048\U000110be\U000110bf\U000110c0\U000110c1"
    "\U00011141\U00011142\U00011143\U000111c5\U000111c6\U000111cd\U000111de\U000111df"
    "\U00011238\U00011239\U0001123b\U0001123c\U000112a9\U0001144b\U0001144c\U000115c2"
    "\U000115c3\U000115c9\U000115ca\U000115cb\U000115cc\U000115cd\U000115ce\U000115cf"
    "\U000115d0\U000115d1\U000115d2\U000115d3\U000115d4\U000115d5\U000115d6\U000115d7"
    "\U00011641\U00011642\U0001173c\U0001173d\U0001173e\U00011944\U00011946\U00011a42"
    "\U00011a43\U00011a9b\U00011a9c\U00011c41\U00011c42\U00011ef7\U00011ef8\U00011f43"
    "\U00011f44\U00016a6e\U00016a6f\U00016af5\U00016b37\U00016b38\U00016b44\U00016e98"
    "\U0001bc9f\U0001da88"
)
PUNCTUATION_SET = frozenset(PUNCTUATION) | TERMINAL_PUNCTUATION


_MAX_STRINGS = 50_000  # spaCy's string store and caches, ~25 MB: then a fresh tokenizer


@cache
def _english() -> Any:
    import spacy  # imported lazily: ~1 s, and only the quality filters need it

    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    return nlp


def preload() -> None:
    """Load spaCy now (an extraction process does, before its first page is timed)."""
    _english()


def _tokens(text: str) -> Any:
    """spaCy's tokens of ``text`` (a ``Doc``), as datatrove's tokenizer makes them.

    The whole text in one call, as there: a token's split may depend on its neighbour
    (spaCy's special cases are matched over the token sequence, and a match across one
    space can keep "'s" from being merged), so no per-word cache can be exact. spaCy's
    own cache is kept between calls (every text is split ~2x faster than in a
    ``memory_zone``, as datatrove runs it) and the tokenizer is renewed when its string
    store passes ``_MAX_STRINGS``, so a long crawl's memory stays bounded."""
    nlp = _english()
    if len(nlp.vocab.strings) > _MAX_STRINGS:
        _english.cache_clear()
        nlp = _english()
    return nlp.tokenizer(text)  # not nlp(text): the tokens only, without a length limit


def split_words(text: str) -> list[str]:
    """The words of ``text`` as datatrove's ``split_into_words(text, "eng")`` gives them:
    spaCy's English tokens, stripped, empty (whitespace) ones dropped; punctuation
    tokens included."""
    return [s for s in (token.text.strip() for token in _tokens(text)) if s]


def count_sentences(text: str) -> int:
    """How many parts datatrove's ``split_into_sentences(text, "eng")`` makes of ``text``:
    the sentences spaCy's ``sentencizer`` finds among the same tokens; at least one."""
    doc = _english().get_pipe("sentencizer")(_tokens(text))
    return max(1, sum(1 for _ in doc.sents))
