"""Each quality filter: documents kept and dropped, with the reason."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from quarrycore.extract.filters import filter_failure
from quarrycore.records import Document
from quarrycore.settings import QualityThresholds
from quarrycore.text import count_words

GOOD = (
    "The river town held its annual market on Saturday. Farmers brought apples, "
    "honey and cheese from the valley, and the baker sold out of rye bread by noon.\n\n"
    "Visitors walked along the old stone bridge, which was repaired last spring after "
    "the floods. The council says the repairs cost less than expected and finished early.\n\n"
    "Next year the market will open an hour earlier, organisers said, to give traders "
    "from the hill villages more time to set up their stalls before the crowds arrive."
)


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


def dropped(text: str, **kw: object) -> str | None:
    thresholds = QualityThresholds(**kw)
    failure = filter_failure(doc(text), thresholds)
    return None if failure is None else failure.error_type


def test_a_good_article_is_kept() -> None:
    assert dropped(GOOD) is None


@pytest.mark.parametrize(
    ("text", "error_type"),
    [
        ("Too short to be an article.", "FilteredWordCount"),
        (
            GOOD + "\n\nLorem ipsum dolor sit amet, consectetur adipiscing elit.",
            "FilteredBoilerplate",
        ),
        (
            "We use cookies to improve your experience. Accept all cookies to continue. " * 6,
            "FilteredBoilerplate",
        ),
        ("\n".join(["Click here to subscribe to our newsletter today"] * 12), "FilteredRepetition"),
        (GOOD + "\n" + " ".join(f"#topic{i} ..." for i in range(30)), "FilteredSymbols"),
    ],
)
def test_each_filter_drops_with_its_reason(text: str, error_type: str) -> None:
    assert dropped(text) == error_type


def test_repeated_5grams_and_top_2grams() -> None:
    looped = " ".join(["the quick brown fox jumps over the lazy dog again"] * 15)
    assert dropped(looped) == "FilteredRepetition"
    failure = filter_failure(doc(looped), QualityThresholds())
    assert failure is not None and failure.stage == "filter" and not failure.retryable
    assert failure.message.startswith("repetition: ")


def test_language_allow_list_and_score() -> None:
    thresholds = QualityThresholds(languages=["de", "fr"])
    assert filter_failure(doc(GOOD), thresholds) is not None
    assert filter_failure(doc(GOOD, language="de"), thresholds) is None
    assert filter_failure(doc(GOOD, language="de", score=0.3), thresholds) is not None
    assert filter_failure(doc(GOOD), QualityThresholds()) is None  # no allow list: any


def test_filters_can_be_turned_off_or_tuned() -> None:
    assert dropped("Too short.", enabled=False) is None
    assert dropped("Short but fine for this job.", min_words=3) is None
