"""Reading archived responses back: the source of re-extraction, no request made.

A URL's row names its response record (file, offset, length); the record is read on its
own (one gzip member) and turned into the same :class:`FetchedPage` a live fetch makes,
through the same decoding (Content-Encoding, charset), so extraction sees the same HTML.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

from warcio.archiveiterator import ArchiveIterator

from quarrycore.archive.files import is_url, open_binary
from quarrycore.exceptions import ArchiveUnreadable, HTTPStatus, URLFailure
from quarrycore.fetch.content import html_page
from quarrycore.fetch.decoding import decode_body
from quarrycore.records import Batch, Failure, FetchedPage, Outcome, UrlRecord, WarcRef


def read_page(root: Path, url: str, ref: WarcRef) -> FetchedPage:
    """The page archived for ``url`` at ``ref`` (relative to ``root``). Raises
    :class:`ArchiveUnreadable` when the record cannot be read, and the fetch's own
    errors (``NotHTML``, ...) for what the crawl would have refused."""
    try:
        name = ref.file if is_url(ref.file) else str(root / ref.file)
        with open_binary(name) as archive:
            archive.seek(ref.offset)
            data = archive.read(ref.length)
        record = next(iter(ArchiveIterator(io.BytesIO(data))), None)
        if record is None or record.rec_type != "response" or record.http_headers is None:
            raise ArchiveUnreadable(f"no response record at {ref.file}:{ref.offset}")
        raw = record.raw_stream.read()
    except ArchiveUnreadable:
        raise
    except Exception as exc:  # warcio raises anything on a damaged record (AttributeError too)
        raise ArchiveUnreadable(
            f"cannot read {ref.file}:{ref.offset}: {type(exc).__name__}: {exc}"
        ) from exc
    headers = record.http_headers
    status = int(headers.get_statuscode() or 0)
    if not 200 <= status < 300:  # a redirect or an error, as archived: recorded, not extracted
        raise HTTPStatus(f"HTTP {status} in the archived response", status_code=status)
    target = record.rec_headers.get_header("WARC-Target-URI")
    return html_page(
        url=url,
        final_url=target.strip().strip("<>") if target else url,
        status_code=status,
        content_type=headers.get_header("Content-Type"),
        body=decode_body(raw, headers.get_header("Content-Encoding")),
        fetched_at=_date(record.rec_headers.get_header("WARC-Date")),
    )


def _date(value: str | None) -> datetime:
    """A WARC-Date (ISO 8601, 'Z' for UTC); now when missing or unreadable."""
    try:
        moment = datetime.fromisoformat(value) if value else None
    except ValueError:
        moment = None
    if moment is None:
        return datetime.now(UTC)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def read_outcomes(root: Path, batch: Batch) -> list[Outcome]:
    """The page of every open URL of the batch read back from its record, or its failure
    (blocking)."""
    return [_outcome(root, record) for record in batch.records if record.open]


def _outcome(root: Path, record: UrlRecord) -> Outcome:
    if record.warc is None:
        return Failure.from_error(record.url, ArchiveUnreadable("no archived response"))
    try:
        return read_page(root, record.url, record.warc)
    except URLFailure as exc:
        return Failure.from_error(record.url, exc)
