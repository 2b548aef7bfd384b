"""Input WARC files (an archived crawl: Common Crawl's, a Heritrix or wget crawl):
their response records found by a streaming scan, to be registered as a job's URLs and
read back one by one, like the job's own archive, by re-extraction's source.

Files must be uncompressed or gzip per record (the WARC norm), so that each record can be
read on its own at its offset. A scan starts at any record's offset, so a job killed
half-way through a file goes on from the last offset it committed.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from warcio.archiveiterator import ArchiveIterator

from quarrycore.archive.files import open_binary, size_of
from quarrycore.exceptions import InvalidURL
from quarrycore.records import WarcRef
from quarrycore.urls import normalize_url


@dataclass(frozen=True, slots=True)
class ScanChunk:
    """Some response records of a file, and where the scan goes on."""

    records: list[tuple[str, WarcRef]]  # (URL, its record)
    next_offset: int
    done: bool
    torn_at: int | None = None  # the offset of an unreadable (truncated) last record
    error: str | None = None


def scan(
    name: str, start: int, *, drop_params: frozenset[str], chunk: int = 1000
) -> Iterator[ScanChunk]:
    """The response records of ``path`` from offset ``start``, ``chunk`` at a time (URL:
    the record's normalised ``WARC-Target-URI``; records without a valid one are
    skipped). An unreadable record ends the file with ``torn_at`` set."""
    with open_binary(name) as stream:
        size = size_of(name)
        gzipped = stream.read(2) == b"\x1f\x8b"
        stream.seek(start)
        iterator = ArchiveIterator(stream)
        records: list[tuple[str, WarcRef]] = []
        end = last = start  # where the last record read ends, and starts
        try:
            for record in iterator:
                offset = last = iterator.get_record_offset()
                if len(records) >= chunk:  # this record's offset is where the next scan starts
                    yield ScanChunk(records, offset, done=False)
                    records = []
                if record.rec_type == "response" and record.http_headers is not None:
                    url = _url(record.rec_headers.get_header("WARC-Target-URI"), drop_params)
                    if url is not None:
                        records.append((url, WarcRef(name, offset, iterator.get_record_length())))
                record.raw_stream.read()
                end = offset + iterator.get_record_length()
        except Exception as exc:  # warcio raises anything on a damaged record (AttributeError too)
            error = " ".join(f"{type(exc).__name__}: {exc}".split())  # warcio's are multi-line
            yield ScanChunk(records, size, done=True, torn_at=max(start, end), error=error)
            return
        # warcio ends quietly at a truncated last record: a gzip member it could not
        # inflate is left over after the last whole one; an uncompressed record cut short
        # is read as far as it goes, and lacks the CRLF CRLF that ends every record.
        if gzipped and end < size:
            yield ScanChunk(records, size, done=True, torn_at=end, error="truncated record")
            return
        if not gzipped and end > start and size - end != _SEPARATOR:
            if records and records[-1][1].offset == last:
                records.pop()
            yield ScanChunk(records, size, done=True, torn_at=last, error="truncated record")
            return
        yield ScanChunk(records, size, done=True)


_SEPARATOR = 4  # the CRLF CRLF after an uncompressed record, not in its length


def _url(target: str | None, drop_params: frozenset[str]) -> str | None:
    if not target:
        return None
    try:
        return normalize_url(target.strip().strip("<>"), drop_params=drop_params)
    except InvalidURL:
        return None
