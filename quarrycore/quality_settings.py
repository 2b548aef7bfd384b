"""The quality filters' choice and thresholds (``QUARRY_QUALITY__<NAME>``), a part of
:class:`~quarrycore.settings.QuarrySettings` kept in a module of its own."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

FilterName = Literal[
    "word_count",
    "language",
    "boilerplate",
    "gopher_repetition",
    "gopher_quality",
    "c4",
    "fineweb_quality",
]

DEFAULT_FILTERS: tuple[FilterName, ...] = (
    "word_count",
    "language",
    "boilerplate",
    "gopher_repetition",
)

# Gopher's stop words (datatrove's STOP_WORDS): a document needs two of them.
GOPHER_STOP_WORDS = ["the", "be", "to", "of", "and", "that", "have", "with"]


class QualityThresholds(BaseModel):
    """Every threshold of the quality filters (``QUARRY_QUALITY__<NAME>``); the filters and
    their sources are in quarrycore/extract/filters.py. Defaults are datatrove 0.10's, the
    implementation FineWeb was built with. A Gopher limit of 0 turns its rule off, as there
    (an n-gram rule: leave its n out); FineWeb's limits are always compared, as there.
    """

    enabled: bool = Field(True, description="Run the quality filters at all.")
    filters: list[FilterName] = Field(
        default_factory=lambda: list(DEFAULT_FILTERS),
        description="The filters that run, in order. FineWeb's own: gopher_repetition, "
        'gopher_quality, c4, fineweb_quality (README, "Quality filters").',
    )
    languages: list[str] = Field(
        default_factory=list, description="Allowed language codes; empty: any language."
    )
    min_language_score: float = Field(0.65, ge=0, le=1, description="FineWeb: 0.65.")
    # QuarryCore's own boilerplate filter.
    boilerplate_markers: list[str] = Field(
        default_factory=lambda: ["lorem ipsum"], description="Pages with these are dropped."
    )
    cookie_wall_markers: list[str] = Field(
        default_factory=lambda: [
            "accept all cookies",
            "we use cookies",
            "cookie settings",
            "enable javascript",
            "javascript is disabled",
        ],
        description="Short pages with these are consent walls, not content.",
    )
    cookie_wall_max_words: int = Field(200, description="A cookie wall is shorter than this.")
    # Gopher repetition: Rae et al. 2021 table A1 = datatrove GopherRepetitionFilter.
    max_dup_paragraph_fraction: float = Field(
        0.30, ge=0, description="Gopher: paragraphs repeating an earlier one, at most 30 %."
    )
    max_dup_paragraph_char_fraction: float = Field(
        0.20, ge=0, description="Gopher: characters in repeated paragraphs, at most 20 %."
    )
    max_dup_line_fraction: float = Field(
        0.30, ge=0, description="Gopher: lines repeating an earlier one, at most 30 %."
    )
    max_dup_line_char_fraction: float = Field(
        0.20, ge=0, description="Gopher: characters in repeated lines, at most 20 %."
    )
    top_ngram_char_fractions: dict[int, float] = Field(
        default_factory=lambda: {2: 0.20, 3: 0.18, 4: 0.16},
        description="Gopher: n -> largest share of characters the top n-gram may cover.",
    )
    dup_ngram_char_fractions: dict[int, float] = Field(
        default_factory=lambda: {5: 0.15, 6: 0.14, 7: 0.13, 8: 0.12, 9: 0.11, 10: 0.10},
        description="Gopher: n -> largest share of characters in repeated n-grams.",
    )
    # Gopher quality: Rae et al. 2021 appendix A = datatrove GopherQualityFilter.
    min_words: int = Field(50, ge=0, description="Gopher: at least 50 words (not punctuation).")
    max_words: int = Field(100_000, ge=0, description="Gopher: at most 100,000 words.")
    min_avg_word_length: float = Field(3, ge=0, description="Gopher: mean word length ≥ 3.")
    max_avg_word_length: float = Field(10, ge=0, description="Gopher: mean word length ≤ 10.")
    max_symbol_word_ratio: float = Field(
        0.10, ge=0, description="Gopher: '#', and '...' or '…', each at most 0.1 per word."
    )
    max_bullet_lines_ratio: float = Field(
        0.90, ge=0, description="Gopher: lines starting with '•' or '-', at most 90 %."
    )
    max_ellipsis_lines_ratio: float = Field(
        0.30, ge=0, description="Gopher: lines ending in '...' or '…', at most 30 %."
    )
    min_alpha_words_ratio: float = Field(
        0.80, ge=0, description="Gopher: words with a letter, at least 80 %."
    )
    min_stop_words: int = Field(2, ge=0, description="Gopher: at least 2 of stop_words.")
    stop_words: list[str] = Field(
        default_factory=lambda: list(GOPHER_STOP_WORDS), description="Gopher's stop words."
    )
    # C4: Raffel et al. 2020 = datatrove C4QualityFilter, with FineWeb's options.
    c4_terminal_punct: bool = Field(
        False,
        description="C4: drop lines not ending in terminal punctuation (C4 did; FineWeb, "
        "whose option is our default, did not).",
    )
    c4_curly_bracket: bool = Field(True, description="C4: drop documents with a '{'.")
    c4_min_sentences: int = Field(
        5, ge=-1, description="C4: at least 5 sentences in the lines kept (-1: off)."
    )
    c4_min_words_per_line: int = Field(
        3, ge=-1, description="C4: lines of fewer words are not kept (-1: off)."
    )
    c4_max_word_length: int = Field(
        1000, ge=-1, description="C4: lines with a longer word are not kept (-1: off)."
    )
    # FineWeb: Penedo et al. 2024 = datatrove FineWebQualityFilter.
    fineweb_min_line_punct_ratio: float = Field(
        0.12, ge=0, description="FineWeb: lines ending in terminal punctuation, at least 12 %."
    )
    fineweb_max_short_line_ratio: float = Field(
        0.67, ge=0, description="FineWeb: short lines, at most 67 %."
    )
    fineweb_short_line_length: int = Field(
        30, ge=0, description="FineWeb: a line of at most 30 characters is short."
    )
    fineweb_max_dup_line_char_ratio: float = Field(
        0.01, ge=0, description="FineWeb: characters in repeated lines, at most 1 %."
    )
    fineweb_max_newline_word_ratio: float = Field(
        0.30, ge=0, description="FineWeb: newlines per word, at most 0.3."
    )
    near_dedup: bool = Field(True, description="Drop near-duplicates (MinHash LSH).")
    near_dup_threshold: float = Field(
        0.8, gt=0, le=1, description="Estimated Jaccard similarity of 5-grams that is a duplicate."
    )
