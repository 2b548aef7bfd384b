"""The WARC archive's writer and reader, on records built in memory (the crawl's own
archive is tested against a real site in tests/e2e/test_warc.py)."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime
from pathlib import Path

import pytest
from warcio.archiveiterator import ArchiveIterator

from quarrycore.archive import WarcArchive, read_outcomes, read_page
from quarrycore.exceptions import ArchiveUnreadable
from quarrycore.records import Batch, Exchange, FetchedPage, WarcRef

HTML = "<html><head><title>T</title></head><body><p>Grüße, {i}.</p></body></html>"
WHEN = datetime(2026, 11, 29, 12, 0, 0, 123456, tzinfo=UTC)


def _exchange(url: str, body: bytes, *, gzipped: bool = False, status: int = 200) -> Exchange:
    headers = [("Content-Type", "text/html; charset=utf-8"), ("Transfer-Encoding", "chunked")]
    if gzipped:
        headers.append(("Content-Encoding", "gzip"))
        body = gzip.compress(body)
    return Exchange(
        url=url,
        request_headers=(("Host", "example.org"), ("User-Agent", "QuarryCore-test")),
        http_version="HTTP/1.1",
        status_code=status,
        reason="OK",
        response_headers=tuple(headers),
        body=body,
        fetched_at=WHEN,
    )


def _batch(n: int, *, gzipped: bool = False) -> Batch:
    batch = Batch.of("job-1", 0, [f"https://example.org/p/{i}" for i in range(n)])
    pages = []
    for i, url in enumerate(batch.urls):
        redirect = Exchange(
            url=url,
            request_headers=(("Host", "example.org"),),
            http_version="HTTP/1.1",
            status_code=301,
            reason="Moved Permanently",
            response_headers=(("Location", url + "/"),),
            body=b"",
            fetched_at=WHEN,
            body_read=False,
        )
        html = HTML.format(i=i)
        final = _exchange(url + "/", html.encode(), gzipped=gzipped)
        pages.append(
            FetchedPage(
                url=url,
                final_url=url + "/",
                status_code=200,
                content_type="text/html",
                html=html,
                encoding="utf-8",
                fetched_at=WHEN,
                exchanges=(redirect, final),
            )
        )
    return batch.advance(pages)


def _records(path: Path) -> list[tuple[int, int, str, str | None]]:
    """(offset, length, type, target URI) of every record of a WARC file, as warcio sees
    them reading the file from its start."""
    found = []
    with open(path, "rb") as stream:
        iterator = ArchiveIterator(stream)
        for record in iterator:
            uri = record.rec_headers.get_header("WARC-Target-URI")
            record.content_stream().read()
            found.append(
                (iterator.get_record_offset(), iterator.get_record_length(), record.rec_type, uri)
            )
    return found


def test_each_page_points_at_its_response_record_and_reads_back(tmp_path: Path) -> None:
    archive = WarcArchive(tmp_path, "job-1", max_bytes=10**9)
    written = archive.write_batch(_batch(5, gzipped=True))
    archive.close()
    refs = [record.warc for record in written.records]
    assert all(ref is not None for ref in refs)
    assert all(record.page is not None and not record.page.exchanges for record in written.records)
    (path,) = (tmp_path / "job-1").iterdir()
    records = _records(path)
    # warcinfo, then for each page: the redirect's response and request, the page's.
    assert [kind for _, _, kind, _ in records] == ["warcinfo"] + ["response", "request"] * 10
    responses = {(off, length): uri for off, length, kind, uri in records if kind == "response"}
    for record, ref in zip(written.records, refs, strict=True):
        assert ref is not None and ref.file == f"job-1/{path.name}"
        assert responses[(ref.offset, ref.length)] == record.url + "/"  # the page, not a hop
        page = read_page(tmp_path, record.url, ref)
        assert record.page is not None
        assert (page.html, page.final_url, page.status_code) == (
            record.page.html,
            record.url + "/",
            200,
        )
        assert page.fetched_at == WHEN and page.encoding == "utf-8"


def test_headers_as_received_but_no_second_unchunking(tmp_path: Path) -> None:
    archive = WarcArchive(tmp_path, "job-1", max_bytes=10**9)
    ref = archive.write_batch(_batch(1)).records[0].warc
    archive.close()
    assert ref is not None
    with open(tmp_path / ref.file, "rb") as stream:
        stream.seek(ref.offset)
        record = next(iter(ArchiveIterator(stream)))
        headers = dict(record.http_headers.headers)
        assert headers["X-Crawler-Transfer-Encoding"] == "chunked"
        assert "Transfer-Encoding" not in headers
        assert record.rec_headers.get_header("WARC-Date") == "2026-11-29T12:00:00.123456Z"
        assert record.rec_headers.get_header("WARC-Payload-Digest").startswith("sha1:")


def test_files_rotate_past_max_bytes_and_every_run_writes_its_own(tmp_path: Path) -> None:
    archive = WarcArchive(tmp_path, "job-1", max_bytes=2_000)
    refs = [r.warc for r in archive.write_batch(_batch(12)).records]
    archive.close()
    again = WarcArchive(tmp_path, "job-1", max_bytes=10**9)
    refs += [r.warc for r in again.write_batch(_batch(2)).records]
    again.close()
    files = sorted((tmp_path / "job-1").iterdir())
    assert len(files) >= 4  # several of the first run, one of the second
    assert all(path.stat().st_size < 2_000 + 3_000 for path in files)  # closed past the cap
    seen = {(ref.file, ref.offset) for ref in refs if ref is not None}
    assert len(seen) == len(refs) == 14  # no record referenced twice
    for path in files:  # each file reads from its start, warcinfo first
        assert _records(path)[0][2] == "warcinfo"


def test_unreadable_records_fail_the_url_with_a_clear_reason(tmp_path: Path) -> None:
    archive = WarcArchive(tmp_path, "job-1", max_bytes=10**9)
    ref = archive.write_batch(_batch(1)).records[0].warc
    archive.close()
    assert ref is not None
    with pytest.raises(ArchiveUnreadable, match="cannot read"):
        read_page(tmp_path, "u", WarcRef("job-1/missing.warc.gz", 0, 10))
    with pytest.raises(ArchiveUnreadable):
        read_page(tmp_path, "u", WarcRef(ref.file, ref.offset + 7, ref.length))
    batch = Batch.of("job-1", 0, ["https://a/1", "https://a/2"], warc=[ref, None])
    first, second = read_outcomes(tmp_path, batch)
    assert isinstance(first, FetchedPage)
    assert getattr(second, "error_type", None) == "ArchiveUnreadable"


def test_every_record_is_its_own_member_at_the_default_level(tmp_path: Path) -> None:
    """A record's bytes (offset, length) inflate alone, as a reader seeking to it does;
    compressed at zlib's default level (gzip header XFL 0), not warcio's level 9 (XFL 2),
    which doubled the archive's CPU for 0.7 % less size."""
    archive = WarcArchive(tmp_path, "job-1", max_bytes=10**9)
    refs = [r.warc for r in archive.write_batch(_batch(3)).records]
    archive.close()
    for ref in refs:
        assert ref is not None
        with open(tmp_path / ref.file, "rb") as stream:
            stream.seek(ref.offset)
            member = stream.read(ref.length)
        assert member[:2] == b"\x1f\x8b" and member[8] == 0  # XFL: neither best nor fastest
        record = gzip.decompress(member)
        assert record.startswith(b"WARC/1.1\r\n") and b"WARC-Type: response\r\n" in record
