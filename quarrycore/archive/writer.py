"""Writing a crawl's HTTP exchanges to WARC 1.1 files (warcio), gzip per record.

One :class:`WarcArchive` owns the files one run writes for one job, under
``<warc_dir>/<job_id>/``: a new file for each run (a run never appends to a file that a
killed run may have left with a torn last record) and a new one past ``max_bytes``.
Each exchange is a ``response`` record (headers and body as received) followed by its
``request`` record; a page's row points at its response record (file, offset, length).

The archive is part of the commit protocol: :meth:`WarcArchive.write_batch` returns only
once the batch's records are flushed and fsynced, and the rows that point at them are
written by the batch's transaction afterwards. A run killed in between leaves records no
row points at (harmless: the resumed run writes the batch again, into its own file), so
no record is ever referenced twice and no stored page lacks its record.
"""

from __future__ import annotations

import http
import io
import os
import socket
import uuid
import zlib
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urlsplit

from warcio.statusandheaders import StatusAndHeaders
from warcio.timeutils import datetime_to_iso_date
from warcio.warcwriter import WARCWriter

from quarrycore.durable import fsync_directory
from quarrycore.records import Batch, Exchange, UrlRecord, WarcRef

# Kept out of the archived headers under another name: httpx hands over the body with
# the chunked framing already removed, and a reader must not try to undo it again (the
# header is kept, renamed, as Common Crawl does). Content-Encoding stays: the body is
# archived still encoded, as received.
_RENAMED = {"transfer-encoding": "X-Crawler-Transfer-Encoding"}

# warcio compresses at level 9; on 530 documentation pages level 6 (zlib's and gzip's
# default) made members 0.7 % larger in half the CPU (1.3 against 2.3 ms a page), and
# the archive's compression was the largest cost of the crawl's own process.
GZIP_LEVEL = 6


class _GzipMember:
    """One gzip member around one record: warcio's GzippingWrapper at GZIP_LEVEL."""

    def __init__(self, out: BinaryIO) -> None:
        self._compressor = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, zlib.MAX_WBITS + 16)
        self._out = out

    def write(self, data: bytes) -> None:
        self._out.write(self._compressor.compress(data))

    def flush(self) -> None:  # warcio flushes once, when the record is complete
        self._out.write(self._compressor.flush())
        self._out.flush()


class _Writer(WARCWriter):  # type: ignore[misc]
    """warcio's writer, each record its own gzip member at GZIP_LEVEL."""

    def __init__(self, out: BinaryIO) -> None:
        super().__init__(out, gzip=False, warc_version="1.1")  # we wrap, not warcio

    def write_record(self, record: Any, params: Any = None) -> None:
        self._write_warc_record(_GzipMember(self.out), record)


class WarcArchive:
    """The WARC files of one job written by this run."""

    def __init__(self, root: Path, job_id: str, *, max_bytes: int) -> None:
        self.root = root
        self.job_id = job_id
        self.max_bytes = max_bytes
        self._run = uuid.uuid4().hex[:12]
        self._serial = 0
        self._name: str | None = None  # relative to root
        self._out: BinaryIO | None = None
        self._writer: WARCWriter | None = None

    def write_batch(self, batch: Batch) -> Batch:
        """Archive the exchanges of every fetched page of the batch and return the batch
        with each page's record reference (its exchanges dropped); durable on return."""
        records: list[UrlRecord] = []
        wrote = False
        for record in batch.records:
            page = record.page
            if page is None or not page.exchanges or not record.open:
                records.append(record)
                continue
            ref = None
            for exchange in page.exchanges:  # redirects first; the last is the page's own
                ref = self._write(exchange)
            wrote = True
            records.append(replace(record, page=replace(page, exchanges=()), warc=ref))
        if wrote:
            self._sync()
        return replace(batch, records=tuple(records))

    def close(self) -> None:
        if self._out is not None:
            self._sync()
            self._out.close()
            self._out = self._writer = None

    # -- files ------------------------------------------------------------------------
    def _open_next(self) -> None:
        self.close()
        directory = self.root / self.job_id
        directory.mkdir(parents=True, exist_ok=True)
        self._serial += 1
        stamp = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
        name = f"{stamp}-{self._run}-{self._serial:05d}.warc.gz"
        self._out = open(directory / name, "xb")  # noqa: SIM115 (held across batches)
        self._name = f"{self.job_id}/{name}"
        self._writer = _Writer(self._out)
        info = self._writer.create_warcinfo_record(
            name,
            {
                "software": "QuarryCore",
                "format": "WARC File Format 1.1",
                "hostname": socket.gethostname(),
                "isPartOf": self.job_id,
            },
        )
        self._writer.write_record(info)
        self._sync()
        fsync_directory(directory)  # the new file's name survives a power cut too

    def _sync(self) -> None:
        if self._out is not None:
            self._out.flush()
            os.fsync(self._out.fileno())

    def _write(self, exchange: Exchange) -> WarcRef:
        if self._out is None or self._out.tell() >= self.max_bytes:
            self._open_next()
        assert self._out is not None and self._writer is not None and self._name is not None
        writer = self._writer
        # warcio's formatting wants a naive UTC time (an aware one gains a second offset).
        utc = exchange.fetched_at.astimezone(UTC).replace(tzinfo=None)
        date = datetime_to_iso_date(utc, use_micros=True)
        response_headers = {"WARC-Date": date}
        if not exchange.body_read:
            response_headers["WARC-Truncated"] = "unspecified"  # a redirect's body, unread
        response = writer.create_warc_record(
            exchange.url,
            "response",
            payload=io.BytesIO(exchange.body),  # shares the bytes until written to
            length=len(exchange.body),
            warc_headers_dict=response_headers,
            http_headers=StatusAndHeaders(
                f"{exchange.status_code} {_reason(exchange)}",
                [(_RENAMED.get(k.lower(), k), v) for k, v in exchange.response_headers],
                protocol=exchange.http_version,
            ),
        )
        offset = self._out.tell()
        writer.write_record(response)
        length = self._out.tell() - offset
        request = writer.create_warc_record(
            exchange.url,
            "request",
            warc_headers_dict={
                "WARC-Date": date,
                "WARC-Concurrent-To": response.rec_headers.get_header("WARC-Record-ID"),
            },
            http_headers=StatusAndHeaders(
                f"GET {_target(exchange.url)} HTTP/1.1",
                list(exchange.request_headers),
                is_http_request=True,
            ),
        )
        writer.write_record(request)
        return WarcRef(file=self._name, offset=offset, length=length)


def _reason(exchange: Exchange) -> str:
    if exchange.reason:
        return exchange.reason
    try:
        return http.HTTPStatus(exchange.status_code).phrase
    except ValueError:
        return "Unknown"


def _target(url: str) -> str:
    parts = urlsplit(url)
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
