"""The records that flow through the pipeline: a batch of URL records, one per URL.

Like datatrove's ``Document`` flowing through its steps, one :class:`UrlRecord` carries
a URL through every stage. Each stage fills in what it made of the URL (a
:class:`FetchedPage`, then a :class:`Document`) or ends it with a :class:`Failure` that
names the stage and the reason; a failed record is final and later stages pass it on
untouched. So every URL of a batch ends as exactly one stored document or one failure:
nothing is dropped silently.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from quarrycore.exceptions import Stage, URLFailure, is_transient


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
    # Set by a caller that wrote this failure to the dead letters itself (a Prefect
    # task's on_failure hook); the commit records every other failure.
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

    @classmethod
    def from_stage_error(
        cls, url: str, stage: Stage, exc: BaseException, *, dead_lettered: bool = False
    ) -> Failure:
        """The failure of a URL whose whole batch failed at ``stage`` with ``exc``."""
        return cls(
            url=url,
            stage=stage,
            error_type=type(exc).__name__,
            message=str(exc) or repr(exc),
            retryable=is_transient(exc),
            dead_lettered=dead_lettered,
        )


@dataclass(frozen=True, slots=True)
class Exchange:
    """One HTTP request and the response to it as received (the raw body: still
    content-encoded, as read off the wire), for the WARC archive."""

    url: str
    request_headers: tuple[tuple[str, str], ...]
    http_version: str
    status_code: int
    reason: str
    response_headers: tuple[tuple[str, str], ...]
    body: bytes
    fetched_at: datetime
    body_read: bool = True  # False: the body was not read (a redirect's)


@dataclass(frozen=True, slots=True)
class WarcRef:
    """Where a URL's response record is: a WARC file (relative to the archive's root),
    the record's offset in it and its length (one gzip member)."""

    file: str
    offset: int
    length: int


@dataclass(frozen=True, slots=True)
class Validators:
    """A response's ``ETag`` and ``Last-Modified``: sent back on a revisit as
    ``If-None-Match`` / ``If-Modified-Since``, so an unchanged page costs no body."""

    etag: str | None = None
    last_modified: str | None = None

    def __bool__(self) -> bool:
        return bool(self.etag or self.last_modified)


NO_VALIDATORS = Validators()


@dataclass(frozen=True, slots=True)
class NotModified:
    """A revisited URL the server says is unchanged (HTTP 304): nothing to extract."""

    url: str
    checked_at: datetime
    validators: Validators = NO_VALIDATORS


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
    # The HTTP exchanges that made the page (redirects, then the page), while they wait
    # for the archive; the archive step drops them once written.
    exchanges: tuple[Exchange, ...] = ()
    validators: Validators = NO_VALIDATORS


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
    minhash: bytes | None = None  # near-duplicate signature (quarrycore/extract/neardup.py)
    markdown: str | None = None  # only with the markdown setting
    # A quality filter's verdict (None: kept). A filtered document is stored all the
    # same, with the filter and its reason, so a change of filters needs no new fetch.
    filter: str | None = None
    filter_reason: str | None = None

    @property
    def kept(self) -> bool:
        return self.filter is None


Outcome = FetchedPage | Document | Failure | NotModified


@dataclass(frozen=True, slots=True)
class UrlRecord:
    """One URL on its way through the stages, and what it has become so far."""

    url: str
    depth: int = 0  # link depth (crawl mode); 0 for input URLs
    page: FetchedPage | None = None  # the crawl stage's result; dropped once extracted
    document: Document | None = None  # the extract stage's result
    failure: Failure | None = None  # final: the stage and reason it failed
    warc: WarcRef | None = None  # the page's response record in the WARC archive
    # The validators the store has for the URL (sent as conditional headers), then those
    # of the response to this visit.
    validators: Validators = NO_VALIDATORS
    not_modified: NotModified | None = None  # a revisit answered 304

    @property
    def open(self) -> bool:
        """Still on its way: not failed (a stored document is decided by the commit)."""
        return self.failure is None

    def advance(self, outcome: Outcome) -> UrlRecord:
        """The record with a stage's outcome for it."""
        if isinstance(outcome, Failure):
            return replace(self, page=None, document=None, failure=outcome)
        if isinstance(outcome, Document):
            return replace(self, page=None, document=outcome)
        if isinstance(outcome, NotModified):
            return replace(
                self, not_modified=outcome, validators=outcome.validators or self.validators
            )
        return replace(self, page=outcome, validators=outcome.validators)


# A weak reference slot: Prefect checks a batch's link to the task that returned it by it,
# when a failed task leaves the link in place (tasks/lineage.py).
@dataclass(frozen=True, slots=True, weakref_slot=True)
class Batch:
    """The URL records of one job that one task run handles."""

    job_id: str
    index: int
    records: tuple[UrlRecord, ...]
    # (URL, depth) of in-scope links found in the batch's documents, to enqueue.
    links: tuple[tuple[str, int], ...] = ()

    @classmethod
    def of(
        cls,
        job_id: str,
        index: int,
        urls: Iterable[str],
        depths: Sequence[int] = (),
        warc: Sequence[WarcRef | None] = (),
        validators: Sequence[Validators] = (),
    ) -> Batch:
        """A fresh batch of ``urls`` (``depths``: their link depths, else all 0;
        ``warc``: their archived responses, when the batch is read from the archive;
        ``validators``: what the store has of their last responses, for a revisit)."""
        urls = tuple(urls)
        levels = tuple(depths) or (0,) * len(urls)
        refs = tuple(warc) or (None,) * len(urls)
        known = tuple(validators) or (NO_VALIDATORS,) * len(urls)
        records = tuple(
            UrlRecord(url, depth, warc=ref, validators=v)
            for url, depth, ref, v in zip(urls, levels, refs, known, strict=True)
        )
        return cls(job_id, index, records)

    @property
    def not_modified(self) -> list[NotModified]:
        return [r.not_modified for r in self.records if r.not_modified is not None and r.open]

    @property
    def validators(self) -> dict[str, Validators]:
        """URL -> the validators of this visit's response (fetched or 304)."""
        return {
            r.url: r.validators
            for r in self.records
            if r.page is not None or r.document is not None or r.not_modified is not None
        }

    @property
    def warc_refs(self) -> dict[str, WarcRef]:
        """URL -> its archived response, for the URLs that have one."""
        return {r.url: r.warc for r in self.records if r.warc is not None}

    @property
    def urls(self) -> tuple[str, ...]:
        return tuple(record.url for record in self.records)

    @property
    def fingerprint(self) -> str:
        """The job and every URL of the batch (a key from one URL gave false cache hits)."""
        digest = hashlib.sha256("\n".join(self.urls).encode()).hexdigest()
        return f"{self.job_id}-{digest[:32]}"

    @property
    def pages(self) -> list[FetchedPage]:
        """Fetched pages still waiting for extraction."""
        return [r.page for r in self.records if r.page is not None and r.open]

    @property
    def documents(self) -> list[Document]:
        return [r.document for r in self.records if r.document is not None and r.open]

    @property
    def failures(self) -> list[Failure]:
        return [r.failure for r in self.records if r.failure is not None]

    def advance(self, outcomes: Sequence[Outcome]) -> Batch:
        """The batch with one outcome for each URL named in ``outcomes`` (by URL)."""
        by_url = {outcome.url: outcome for outcome in outcomes}
        records = tuple(
            record.advance(by_url[record.url]) if record.url in by_url else record
            for record in self.records
        )
        return replace(self, records=records)

    def fail_open(self, stage: Stage, exc: BaseException, *, dead_lettered: bool = False) -> Batch:
        """Every open record failed at ``stage`` with ``exc``: a stage failed as a whole."""
        return self.advance(
            [
                Failure.from_stage_error(r.url, stage, exc, dead_lettered=dead_lettered)
                for r in self.records
                if r.open
            ]
        )

    def with_links(self, links: Sequence[tuple[str, int]]) -> Batch:
        return replace(self, links=tuple(links))


@dataclass(frozen=True, slots=True)
class BatchReport:
    """What the store committed for one batch: one verdict for each of its URLs."""

    batch_index: int
    stored: int
    failed: int
    filtered: int = 0
    duplicate: int = 0
    unchanged: int = 0  # revisits that found the page as the job has it
    gone: int = 0  # revisits that found the page removed

    @property
    def done(self) -> int:
        return (
            self.stored + self.filtered + self.duplicate + self.failed + self.unchanged + self.gone
        )
