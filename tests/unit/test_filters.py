"""Each quality filter: documents kept and dropped, with the rule, the value and the limit.

What the rules compute is pinned to datatrove's own code on real pages in
tests/unit/test_filters_reference.py; here, small texts show each rule's behaviour.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from quarrycore.extract.c4fineweb import c4, fineweb_measures
from quarrycore.extract.filters import verdict, with_verdict
from quarrycore.extract.gopher import (
    find_all_duplicate,
    find_duplicates,
    find_top_duplicate,
    first_failure,
    get_n_grams,
    quality_measures,
    repetition_measures,
)
from quarrycore.extract.wordsplit import split_words
from quarrycore.quality_settings import QualityThresholds
from quarrycore.records import Document
from quarrycore.text import count_words

PARAGRAPHS = [
    "The river town held its annual market on Saturday. Farmers brought apples, "
    "honey and cheese from the valley, and the baker sold out of rye bread by noon.",
    "Visitors walked along the old stone bridge, which was repaired last spring after "
    "the floods. The council says the repairs cost less than expected and finished early.",
    "Next year the market will open an hour earlier, organisers said, to give traders "
    "from the hill villages more time to set up their stalls before the crowds arrive.",
]
GOOD = "\n\n".join(PARAGRAPHS)
MORE = [
    "A choir from the next valley sang in the church square while children ran between "
    "the stalls with paper kites.",
    "In the evening the lanterns along the quay were lit, and the last boats returned "
    "with the tide.",
    "Most stallholders said that sales were better than last year, despite the rain that "
    "fell for an hour after lunch.",
]
REFERENCE = ["gopher_repetition", "gopher_quality", "c4", "fineweb_quality"]
EVERY = ["word_count", "language", "boilerplate", *REFERENCE]


def doc(text: str, *, language: str = "en", score: float | None = 0.99) -> Document:
    return Document(
        url="http://x/a",
        final_url="http://x/a",
        status_code=200,
        fetched_at=datetime.now(UTC),
        text=text,
        content_hash="h",
        word_count=count_words(text),
        language=language,
        language_score=score,
    )


def dropped(text: str, **kw: Any) -> str | None:
    """The filter and rule that drop ``text`` ("gopher_quality: gopher_short_doc")."""
    found = verdict(doc(text), QualityThresholds(**{"filters": EVERY, **kw}))
    return None if found is None else f"{found[0]}: {found[1].rule}"


def verdict_of(document: Document, thresholds: QualityThresholds) -> str | None:
    """``"filter: reason"`` of the document as the extract step stores it; None: kept."""
    result = with_verdict(document, thresholds)
    assert result.text == document.text  # filters judge, they never rewrite
    return None if result.kept else f"{result.filter}: {result.filter_reason}"


def test_a_good_article_passes_every_filter() -> None:
    assert dropped(GOOD) is None
    assert verdict_of(doc(GOOD), QualityThresholds()) is None  # the defaults


def test_the_default_filters() -> None:
    defaults = ["word_count", "language", "boilerplate", "gopher_repetition"]
    assert QualityThresholds().filters == defaults


def test_a_drop_is_recorded_with_the_rule_the_value_and_the_limit() -> None:
    failure = verdict_of(doc("Too short to be an article."), QualityThresholds())
    assert failure == (
        "word_count: gopher_short_doc: 6 words, below the minimum 50"
    )  # "." is a token but not counted: Gopher counts tokens with a non-punctuation character
    repeated = "\n".join([PARAGRAPHS[0]] * 3 + [PARAGRAPHS[1]])
    failure = verdict_of(doc(repeated), QualityThresholds())
    assert failure == (
        "gopher_repetition: dup_line_frac: 50.0% of lines repeat an earlier one, "
        "above the maximum 30.0%"
    )


# --- Gopher repetition ---------------------------------------------------------------


def test_the_first_occurrence_of_a_repeated_part_is_not_counted() -> None:
    assert find_duplicates(["a", "b", "a", "a"]) == (2, 2)
    credit = "Photographs by the town council."
    text = "\n\n".join([PARAGRAPHS[0], credit, *PARAGRAPHS[1:], *MORE, credit])
    measures = {m.rule: m.value for m in repetition_measures(text, QualityThresholds())}
    assert measures["dup_para_frac"] == 1 / 8  # not 2/8
    assert measures["dup_para_char_frac"] == len(credit) / len(text)
    assert measures["dup_line_frac"] == 1 / 8
    # The first repeated 5-gram starts at the "." before the credit (as the first time):
    # it counts, then the walk jumps 5 words ahead, past the rest of the credit.
    assert measures["duplicated_5_n_grams"] == len(".Photographsbythetown") / len(text)
    assert verdict_of(doc(text), QualityThresholds()) is None
    # FineWeb's own rule is stricter: repeated lines may hold 1 % of the characters.
    assert dropped(text) == "fineweb_quality: char_dup_ratio"


def test_repeated_n_grams_skip_ahead_past_each_repeat() -> None:
    words = list("abcde" * 3)  # 15 one-letter words: "abcde" three times
    # Walking: five new 5-grams, then "abcde" again (+5, jump 5 words), and again (+5).
    assert find_all_duplicate(words, 5) == 10  # not 15 (every covered word), nor 30
    # Overlapping repeats count once: "a a a a a a a" has 5-gram "aaaaa" at 0, 1 and 2.
    assert find_all_duplicate(["a"] * 7, 5) == 5
    # n-grams are the words joined without spaces: "ab c" repeats "a bc".
    assert find_all_duplicate(["x", "ab", "c", "y", "a", "bc"], 2) == 3


def test_the_most_frequent_n_gram_counts_every_occurrence() -> None:
    grams = get_n_grams(["to", "be", "or", "not", "to", "be"], 2)
    assert grams == ["to be", "be or", "or not", "not to", "to be"]
    assert find_top_duplicate(grams) == len("to be") * 2
    assert find_top_duplicate(["b a", "c", "b a", "c"]) == 6  # a tie: the first seen


@pytest.mark.parametrize("rule", ["top_2_gram", "top_3_gram", "top_4_gram"])
def test_each_top_n_gram_limit_is_a_maximum_of_its_own(rule: str) -> None:
    looped = " ".join(["the quick brown fox jumps over the lazy dog again"] * 15)
    n = int(rule.split("_")[1])
    value = next(
        m.value for m in repetition_measures(looped, QualityThresholds()) if m.rule == rule
    )
    assert 0 < value < 1
    limits = {2: 1.0, 3: 1.0, 4: 1.0}
    off: dict[str, Any] = {"dup_ngram_char_fractions": {}}  # only the top n-grams here
    kept = QualityThresholds(top_ngram_char_fractions={**limits, n: value}, **off)
    assert first_failure(repetition_measures(looped, kept)) is None  # at the limit: kept
    tight = QualityThresholds(top_ngram_char_fractions={**limits, n: value * 0.999}, **off)
    drop = first_failure(repetition_measures(looped, tight))
    assert drop is not None and drop.rule == rule


@pytest.mark.parametrize("n", range(5, 11))
def test_each_repeated_n_gram_limit_is_a_maximum_of_its_own(n: int) -> None:
    text = " ".join([*PARAGRAPHS, *MORE, PARAGRAPHS[1]])  # one line: only n-grams repeat
    value = find_all_duplicate(split_words(text), n) / len(text)
    others = {k: 1.0 for k in range(5, 11)}
    kept = QualityThresholds(dup_ngram_char_fractions={**others, n: value})
    assert first_failure(repetition_measures(text, kept)) is None
    tight = QualityThresholds(dup_ngram_char_fractions={**others, n: value * 0.999})
    drop = first_failure(repetition_measures(text, tight))
    assert drop is not None and drop.rule == f"duplicated_{n}_n_grams"


def test_a_looped_text_is_dropped_for_its_repeated_5_grams() -> None:
    looped = " ".join(["the quick brown fox jumps over the lazy dog again"] * 15)
    # "the quick": 15 x 9 characters, 18 % (limit 20 %); "the quick brown": 29 % (18 %).
    assert dropped(looped) == "gopher_repetition: top_3_gram"
    assert dropped(looped, top_ngram_char_fractions={}) == (
        "gopher_repetition: duplicated_5_n_grams"
    )


# --- Gopher quality --------------------------------------------------------------------


ALL = (*PARAGRAPHS, *MORE)
SUMS = " ".join(f"{i} + {i} = {2 * i}." for i in range(20))  # tokens without a letter
NO_STOP_WORDS = " ".join(["Stalls sell apples honey cheese bread kites lanterns today."] * 8)
LONG_WORDS = " ".join(["extraordinarily incomprehensible characteristically"] * 30)
GOPHER_QUALITY_CASES = [
    ("Too short to be an article.", "word_count: gopher_short_doc"),
    (GOOD + " " + "#tag " * 20, "gopher_quality: gopher_too_many_hashes"),
    (GOOD + " wait..." * 12, "gopher_quality: gopher_too_many_ellipsis"),
    ("\n".join("- " + p for p in ALL), "gopher_quality: gopher_too_many_bullets"),
    ("\n".join(p + " ..." for p in ALL), "gopher_quality: gopher_too_many_end_ellipsis"),
    (GOOD + " " + SUMS, "gopher_quality: gopher_below_alpha_threshold"),
    (NO_STOP_WORDS, "gopher_quality: gopher_enough_stop_words"),
    (LONG_WORDS, "gopher_quality: gopher_above_avg_threshold"),
]


@pytest.mark.parametrize(("text", "rule"), GOPHER_QUALITY_CASES)
def test_each_gopher_quality_rule_drops_with_its_name(text: str, rule: str) -> None:
    assert dropped(text, dup_ngram_char_fractions={}, top_ngram_char_fractions={}) == rule


def test_punctuation_tokens_are_words_for_the_alpha_ratio_but_not_for_the_count() -> None:
    # datatrove's words are spaCy's tokens: "." and "," are words with no letter.
    words = split_words("Hello, world. It's 10km away.")
    assert words == ["Hello", ",", "world", ".", "It", "'s", "10", "km", "away", "."]
    measures = {m.rule: m.value for m in quality_measures("Hello, world.", QualityThresholds())}
    assert measures["gopher_short_doc"] == 2  # "," and "." are not counted here
    assert measures["gopher_below_alpha_threshold"] == 2 / 4  # but are here


# --- C4 and FineWeb ----------------------------------------------------------------------


def test_c4_drops_documents_for_lorem_ipsum_curly_brackets_and_few_sentences() -> None:
    assert dropped(GOOD + "\n\nLorem ipsum dolor sit amet, consectetur.") == (
        "boilerplate: marker"  # QuarryCore's own filter comes first by default
    )
    lorem = GOOD + "\n\nLorem ipsum dolor sit amet, consectetur."
    assert dropped(lorem, filters=REFERENCE) == "c4: lorem_ipsum"
    assert (
        dropped(GOOD + "\n\nUse d = {'a': 1} for this.", filters=REFERENCE) == "c4: curly_bracket"
    )
    assert dropped(GOOD, filters=REFERENCE, c4_curly_bracket=False) is None
    few = "\n\n".join(PARAGRAPHS[:2])  # four sentences
    assert dropped(few, filters=["c4"]) == "c4: too_few_sentences"
    assert dropped(few, filters=["c4"], c4_min_sentences=4) is None


def test_c4_only_judges_and_fineweb_judges_the_lines_c4_keeps() -> None:
    items = ["Home", "News", "Sport", "Contact us", "Archive", "Jobs", "Weather", "Events"]
    menu = "\n".join([*items, "Log in", "Sign up"])  # fewer than 3 words each
    text = GOOD + "\n" + menu
    kept = c4(text, QualityThresholds())
    assert kept.drop is None and kept.text == "\n".join(PARAGRAPHS)  # the menu lines go
    # FineWeb on the whole text: mostly short lines; on C4's lines: none.
    whole = first_failure(fineweb_measures(text, QualityThresholds()))
    assert whole is not None and whole.rule == "short_line_ratio"
    assert dropped(text, filters=["c4", "fineweb_quality"]) is None
    assert dropped(text, filters=["fineweb_quality"]) == "fineweb_quality: short_line_ratio"
    document = doc(text)
    assert verdict_of(document, QualityThresholds(filters=REFERENCE)) is None
    assert document.text == text  # never rewritten


def test_c4_lines_without_terminal_punctuation_only_when_asked() -> None:
    text = GOOD + "\nRead more about the market in our weekly newsletter"
    assert c4(text, QualityThresholds()).text.endswith("weekly newsletter")  # FineWeb's C4
    assert c4(text, QualityThresholds(c4_terminal_punct=True)).text == "\n".join(PARAGRAPHS)


LINKS = "\n".join(f"https://example.com/articles/{i}/the-title." for i in range(12))
FINEWEB_CASES = [
    ("\n".join(p.rstrip(".") for p in ALL), "line_punct_ratio"),
    (GOOD + "\n" + "\n".join(f"Item number {i} is here" for i in range(20)), "short_line_ratio"),
    ("\n".join(" ".join(p.split()[:4]) + "." for p in ALL * 2), "short_line_ratio"),
    (GOOD + "\n" + PARAGRAPHS[2] + "\n" + MORE[0], "char_dup_ratio"),
    (LINKS, "list_ratio"),  # a link is one token: 12 newlines, 36 words
]


@pytest.mark.parametrize(("text", "rule"), FINEWEB_CASES)
def test_each_fineweb_rule_drops_with_its_name(text: str, rule: str) -> None:
    drop = first_failure(fineweb_measures(text, QualityThresholds()))
    assert drop is not None and drop.rule == rule


# --- QuarryCore's own filters and the settings ---------------------------------------


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (GOOD + "\n\nLorem ipsum dolor sit amet, consectetur adipiscing elit.", "lorem ipsum"),
        ("We use cookies to improve your experience. Accept all cookies. " * 6, "consent"),
    ],
)
def test_boilerplate_and_consent_walls(text: str, reason: str) -> None:
    failure = verdict_of(doc(text), QualityThresholds(min_words=5))
    assert failure is not None and failure.startswith("boilerplate: ") and reason in failure


def test_language_allow_list_and_score() -> None:
    thresholds = QualityThresholds(languages=["de", "fr"])
    assert verdict_of(doc(GOOD), thresholds) is not None
    assert verdict_of(doc(GOOD, language="de"), thresholds) is None
    assert verdict_of(doc(GOOD, language="de", score=0.3), thresholds) is not None
    assert verdict_of(doc(GOOD), QualityThresholds()) is None  # no allow list: any


def test_filters_can_be_turned_off_or_tuned() -> None:
    assert verdict_of(doc("Too short."), QualityThresholds(enabled=False)) is None
    assert verdict_of(doc("Too short."), QualityThresholds(filters=[])) is None
    short = doc("Short but fine for this job.")
    assert verdict_of(short, QualityThresholds(min_words=3, filters=["word_count"])) is None
    # Gopher's top 2-gram counts a single occurrence too: a short text always fails it.
    failure = verdict_of(short, QualityThresholds(min_words=3))
    assert failure is not None and "top_2_gram" in failure
    # A Gopher limit of 0 turns its rule off, as in datatrove.
    assert dropped("Too short to be an article.", min_words=0, filters=["word_count"]) is None
