"""Thresholds of the quality filters (see quarrycore/filters.py for the sources)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class QualityThresholds(BaseModel):
    """Every threshold of the quality filters (``QUARRY_QUALITY__<NAME>``)."""

    enabled: bool = Field(True, description="Run the quality filters at all.")
    min_words: int = Field(50, ge=0, description="Gopher: at least 50 words.")
    max_words: int = Field(100_000, gt=0, description="Gopher: at most 100,000 words.")
    languages: list[str] = Field(
        default_factory=list, description="Allowed language codes; empty: any language."
    )
    min_language_score: float = Field(0.65, ge=0, le=1, description="FineWeb: 0.65.")
    max_dup_line_fraction: float = Field(0.30, description="Gopher: duplicate lines ≤ 30 %.")
    max_dup_paragraph_fraction: float = Field(0.30, description="Gopher: ≤ 30 % of paragraphs.")
    max_dup_line_char_fraction: float = Field(0.20, description="Gopher: ≤ 20 % of characters.")
    max_top_2gram_char_fraction: float = Field(0.20, description="Gopher: top 2-gram ≤ 20 %.")
    max_dup_5gram_char_fraction: float = Field(0.15, description="Gopher: duplicate 5-grams.")
    max_symbol_word_ratio: float = Field(0.10, description="Gopher: '#' and '…' per word.")
    boilerplate_markers: list[str] = Field(
        default_factory=lambda: ["lorem ipsum"], description="C4: pages with these are dropped."
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
    near_dedup: bool = Field(True, description="Drop near-duplicates (MinHash LSH).")
    near_dup_threshold: float = Field(
        0.8, gt=0, le=1, description="Estimated Jaccard similarity of 5-grams that is a duplicate."
    )
    cookie_wall_max_words: int = Field(200, description="A cookie wall is shorter than this.")
