"""The records that flow through the pipeline: one URL in, one outcome out.

Every URL of a batch ends as exactly one of: a :class:`FetchedPage` that becomes a
:class:`Document`, or a :class:`Failure` that carries its stage and reason. Nothing is
dropped silently.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime

from quarrycore.exceptions import Stage, URLFailure


@dataclass(frozen=True, slots=True)
class Batch:
    """URLs of one job handled by one task run."""

    job_id: str
    index: int
    urls: tuple[str, ...]
    depths: tuple[int, ...] = ()  # link depth of each URL (crawl mode); empty: all 0

    @property
    def fingerprint(self) -> str:
        digest = hashlib.sha256("\n".join(self.urls).encode()).hexdigest()
        return f"{self.job_id}-{digest[:32]}"


@dataclass(frozen=True, slots=True)
class Failure:
    """A URL that failed at one stage, with the reason."""

    url: str
    stage: Stage
    error_type: str
    message: str
    retryable: bool
    status_code: int | None = None
    attempts: int = 1
    # Set when a task's failure hook has already written it to the dead letters.
    dead_lettered: bool = False

    @classmethod
    def from_error(cls, url: str, error: URLFailure, *, attempts: int = 1) -> Failure:
        return cls(
            url=url,
            stage=error.stage,
            error_type=error.error_type,
            message=error.message,
            retryable=error.retryable,
            status_code=error.status_code,
            attempts=attempts,
        )


@dataclass(frozen=True, slots=True)
class FetchedPage:
    """An HTML page as fetched: decoded text and what the server said."""

    url: str
    final_url: str
    status_code: int
    content_type: str
    html: str
    encoding: str
    fetched_at: datetime
    attempts: int = 1


@dataclass(frozen=True, slots=True)
class Document:
    """The clean document stored for one URL."""

    url: str
    final_url: str
    status_code: int
    fetched_at: datetime
    text: str
    content_hash: str
    word_count: int
    title: str | None = None
    author: str | None = None
    date: str | None = None
    language: str | None = None
    language_score: float | None = None
    description: str | None = None
    canonical_url: str | None = None
    site_name: str | None = None
    encoding: str | None = None
    out_links: tuple[str, ...] = ()
    minhash: bytes | None = None  # near-duplicate signature (quarrycore/neardup.py)
    markdown: str | None = None  # only with the markdown setting


@dataclass(slots=True)
class CrawlOutput:
    """What the crawl stage made of one batch."""

    batch: Batch
    pages: list[FetchedPage] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)


@dataclass(slots=True)
class ExtractOutput:
    """What the extract stage made of one batch."""

    batch: Batch
    documents: list[Document] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    links: list[tuple[str, int]] = field(default_factory=list)  # (URL, depth) to enqueue


@dataclass(frozen=True, slots=True)
class BatchReport:
    """What the store committed for one batch."""

    batch_index: int
    stored: int
    failed: int
