"""The whole extract step for one page, as an extraction process runs it: main text and
metadata, the quality filters, and the near-duplicate signature."""

from __future__ import annotations

from dataclasses import replace

from quarrycore.extract.filters import with_verdict
from quarrycore.extract.minhash import signature
from quarrycore.extract.neardup import NearDupConfig
from quarrycore.extract.options import ExtractOptions
from quarrycore.extract.page import extract_page
from quarrycore.records import Document, Failure, FetchedPage


def extract_one(page: FetchedPage, options: ExtractOptions) -> Document | Failure:
    """Extract a page, give it the quality filters' verdict and sign it for near-dedup.
    A document a filter rejects is returned with the verdict, not dropped: it is stored
    as ``filtered``, so other filter settings later need no new fetch."""
    outcome = extract_page(
        page,
        drop=options.drop,
        min_words=options.min_words,
        markdown=options.markdown,
        links=options.out_links,
    )
    quality = options.quality
    if isinstance(outcome, Document) and quality is not None:
        if quality.near_dedup:
            # Signed whatever the verdict: a filtered document that other filters keep
            # later can be compared without extracting it again.
            config = NearDupConfig(threshold=quality.near_dup_threshold)
            outcome = replace(outcome, minhash=signature(outcome.text, config))
        outcome = with_verdict(outcome, quality)
    return outcome


def extract_pages(pages: list[FetchedPage], options: ExtractOptions) -> list[Document | Failure]:
    return [extract_one(page, options) for page in pages]
