"""Writing WARC files for tests, as a crawler would: warcio, a response record per page
(gzip per record or uncompressed), and a way to cut one short."""

from __future__ import annotations

import io
from collections.abc import Mapping
from pathlib import Path

from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

HTML = [("Content-Type", "text/html; charset=utf-8")]


def write_warc(
    path: Path,
    pages: Mapping[str, bytes],
    *,
    gzip: bool = True,
    extra: Mapping[str, tuple[str, list[tuple[str, str]], bytes]] | None = None,
) -> Path:
    """A WARC file with a ``200`` response record for each URL -> HTML of ``pages``, a
    request record after each, then the ``extra`` records: URL -> (status line, headers,
    body)."""
    with open(path, "wb") as out:
        writer = WARCWriter(out, gzip=gzip, warc_version="1.1")
        writer.write_record(writer.create_warcinfo_record(path.name, {"software": "tests"}))
        records = {url: ("200 OK", HTML, body) for url, body in pages.items()}
        records.update(extra or {})
        for url, (status, headers, body) in records.items():
            # As Common Crawl does: the payload's type as identified (here: as declared).
            kind = dict(headers).get("Content-Type", "").split(";")[0].strip()
            response = writer.create_warc_record(
                url,
                "response",
                payload=io.BytesIO(body),
                warc_headers_dict={"WARC-Identified-Payload-Type": kind} if kind else None,
                http_headers=StatusAndHeaders(status, headers, protocol="HTTP/1.1"),
            )
            writer.write_record(response)
            path_part = "/" + url.split("/", 3)[3] if url.count("/") >= 3 else "/"
            request = writer.create_warc_record(
                url,
                "request",
                http_headers=StatusAndHeaders(
                    f"GET {path_part} HTTP/1.1", [("Host", "archive.test")], is_http_request=True
                ),
            )
            writer.write_record(request)
    return path


def cut(path: Path, drop: int) -> Path:
    """The file with its last ``drop`` bytes cut off (a crawl that died mid-record)."""
    data = path.read_bytes()
    path.write_bytes(data[:-drop])
    return path
