"""QuarryCore's error tree.

Library errors (httpx, SQLAlchemy, trafilatura) are mapped into it with
``raise ... from exc``. The leaves of :class:`URLFailure` are the stable ``error_type``
names stored for every URL that failed::

    QuarryError
    ├── ConfigError                  bad settings, database URL or input
    │   └── NoURLsError              nothing to crawl
    ├── InvalidJobId                 a job id that is not a safe file name
    ├── JobLocked                    another live run holds the job
    ├── RunStopped                   the run must stop (its URLs stay pending)
    │   ├── JobLockLost              another run took this run's lease: it may not commit
    │   └── StoreUnavailable         the store stayed unreachable past store_outage_wait
    ├── StageFailed                  a stage failed for a whole batch (its URLs fail)
    ├── CheckpointError
    │   ├── CorruptCheckpoint        unreadable or invalid checkpoint file
    │   └── IncompatibleCheckpoint   other schema version or settings
    └── URLFailure                   one URL failed; carries stage and retryable
        ├── InvalidURL               stage validate, permanent
        ├── FetchError               stage crawl
        │   ├── FetchTimeout         transient
        │   ├── FetchConnectionError transient
        │   ├── HTTPStatus           transient for 408, 429, 5xx; else permanent
        │   ├── TooManyRedirects     permanent
        │   ├── TooLarge             permanent
        │   ├── NotHTML              permanent
        │   ├── UnsupportedEncoding  permanent: a Content-Encoding we cannot decode with a bound
        │   ├── RobotsDisallowed     permanent
        │   ├── RobotsUnavailable    transient: robots.txt answered 5xx or not at all
        │   ├── BlockedAddress       permanent: a private/loopback/link-local address
        │   └── ArchiveUnreadable    permanent: re-extraction found no readable WARC record
        ├── ExtractError             stage extract
        │   ├── NoContent            permanent
        │   ├── NoIndex              permanent: <meta name="robots" content="noindex">
        │   ├── ExtractFailed        permanent: the extractor raised, or its process died
        │   └── ExtractTimeout       permanent: over extract_timeout; its process was killed
        └── Rejected                 stage filter: the page is fine, its text is not kept
            └── Duplicate            the job has this text already (job_urls.duplicate_of)
                └── NearDuplicate    MinHash similarity at least near_dup_threshold

A quality filter's rejection is no error: the document is stored with its verdict
(``documents.filter``, ``filter_reason``; quarrycore/extract/filters.py).

A batch whose stage fails as a whole (a Prefect task that failed past its retries) fails
each of its URLs with that error's own type name (e.g. ``OperationalError``).
"""

from __future__ import annotations

from typing import ClassVar, Literal

import httpx
import sqlalchemy.exc

Stage = Literal["validate", "crawl", "extract", "filter", "store"]

# 408/429 and every 5xx are worth another try; any other status is the server's answer.
TRANSIENT_STATUS_CODES: frozenset[int] = frozenset({408, 429, *range(500, 600)})


class QuarryError(Exception):
    """Base of every error QuarryCore raises on purpose."""


class ConfigError(QuarryError):
    """A setting, database URL or input file is unusable."""


class NoURLsError(ConfigError):
    """The job was given nothing to crawl."""


class InvalidJobId(QuarryError):
    """A job id must be a safe file name: letters, digits, ``-``, ``_`` and ``.``."""


class JobLocked(QuarryError):
    """Another live run holds this job."""


class RunStopped(QuarryError):
    """The run must stop now; the batches it has not committed stay pending for a resume.
    Not a failure of any URL: no step maps it to failures, no hook records it."""


class JobLockLost(RunStopped):
    """This run's lease on the job was taken by another run (it expired, or was stolen):
    it may not commit another batch."""


class StoreUnavailable(RunStopped):
    """The store could not be reached for longer than ``store_outage_wait``: the run stops
    with its uncommitted batches pending (nothing marked failed for the outage)."""


class StageFailed(QuarryError):
    """A stage failed for a whole batch with ``error``; every URL still open in the batch
    fails with it. ``recorded``: whoever raised it has written those URLs to the dead
    letters already (a Prefect task's ``on_failure`` hook), so the commit must not."""

    def __init__(self, error: BaseException, *, recorded: bool) -> None:
        super().__init__(str(error) or repr(error))
        self.error = error
        self.recorded = recorded


class CheckpointError(QuarryError):
    """A checkpoint cannot be used."""


class CorruptCheckpoint(CheckpointError):
    """The checkpoint file is not valid JSON or not a valid checkpoint."""


class IncompatibleCheckpoint(CheckpointError):
    """The checkpoint belongs to another schema version or incompatible settings."""


class URLFailure(QuarryError):
    """One URL failed at one stage; the job goes on."""

    stage: ClassVar[Stage] = "crawl"
    default_retryable: ClassVar[bool] = False

    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code

    @property
    def error_type(self) -> str:
        return type(self).__name__

    @property
    def retryable(self) -> bool:
        return self.default_retryable


class InvalidURL(URLFailure):
    stage = "validate"


class FetchError(URLFailure):
    stage = "crawl"


class FetchTimeout(FetchError):
    default_retryable = True


class FetchConnectionError(FetchError):
    default_retryable = True


class HTTPStatus(FetchError):
    @property
    def retryable(self) -> bool:
        return self.status_code in TRANSIENT_STATUS_CODES


class TooManyRedirects(FetchError):
    pass


class TooLarge(FetchError):
    pass


class NotHTML(FetchError):
    pass


class UnsupportedEncoding(FetchError):
    pass


class RobotsDisallowed(FetchError):
    pass


class RobotsUnavailable(FetchError):
    """RFC 9309: a robots.txt that cannot be read (5xx, unreachable) means 'not now'."""

    default_retryable = True


class BlockedAddress(FetchError):
    """The host resolves to an address the SSRF guard refuses."""

    def __init__(self, message: str, *, host: str | None = None) -> None:
        super().__init__(message)
        self.host = host  # the refused host (a robots.txt lookup tells its own from a hop's)


class ArchiveUnreadable(FetchError):
    """Re-extraction could not read the URL's response back from its WARC record."""


class ExtractError(URLFailure):
    stage = "extract"


class NoContent(ExtractError):
    pass


class NoIndex(ExtractError):
    pass


class ExtractFailed(ExtractError):
    pass


class ExtractTimeout(ExtractError):
    """The page took longer than ``extract_timeout`` to extract (a pathological page)."""


class Rejected(URLFailure):
    """The page was fetched and extracted, and its text is not kept."""

    stage = "filter"


class Duplicate(Rejected):
    """The job already stores the same normalised text under another URL."""


class NearDuplicate(Duplicate):
    """The job already stores a text this similar (MinHash LSH) under another URL."""


def is_transient(exc: BaseException) -> bool:
    """Whether another try of the same work may succeed (drives Prefect's retries)."""
    if isinstance(exc, URLFailure):
        return exc.retryable
    if isinstance(exc, QuarryError):
        return False
    if isinstance(exc, httpx.TransportError):
        return True
    if isinstance(exc, sqlalchemy.exc.OperationalError | sqlalchemy.exc.InterfaceError):
        # "database is locked", a dropped PostgreSQL connection: worth another try.
        return True
    if isinstance(exc, sqlalchemy.exc.DBAPIError):
        return bool(exc.connection_invalidated)
    return isinstance(exc, TimeoutError | ConnectionError)
