"""What the extract step does to each page: a small record the flow process builds and
sends to each extraction process, apart from the step itself so that a process that only
hands pages over (the flow process) does not import the extraction libraries."""

from __future__ import annotations

from dataclasses import dataclass

from quarrycore.quality_settings import QualityThresholds
from quarrycore.settings import QuarrySettings


@dataclass(frozen=True, slots=True, kw_only=True)
class ExtractOptions:
    """What the extract step does to each page (sent once to each extraction process)."""

    drop: frozenset[str]  # query parameters removed from links (the tracking_params setting)
    min_words: int = 1
    quality: QualityThresholds | None = None
    markdown: bool = False
    out_links: bool = True  # look for the page's links (a job that follows them, or asked)

    @classmethod
    def from_settings(cls, settings: QuarrySettings, *, out_links: bool = True) -> ExtractOptions:
        return cls(
            drop=settings.drop_params,
            min_words=settings.min_words,
            quality=settings.quality,
            markdown=settings.markdown,
            out_links=out_links,
        )
