"""Compression bombs cost a bounded amount of memory: 32 pages, each a gzip body that
inflates to 2 GiB, fetched at once by a real crawler process from a real local server,
and robots.txt and sitemaps that are bombs too. The crawler's peak RSS stays under 600 MB
and every page ends ``TooLarge``."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
import zlib

import pytest

from tests.support.siteserver import Response, SiteServer

INFLATED = 2 * 1024**3
PAGES = 32
PEAK_RSS_LIMIT_MB = 600

# Run in its own process, so its peak RSS is the fetcher's alone.
CRAWLER = """
import asyncio, json, resource, sys

from quarrycore.fetch import Fetcher
from quarrycore.fetch.sitemaps import discover
from quarrycore.settings import QuarrySettings

pages, origin = json.loads(sys.argv[1]), sys.argv[2]
settings = QuarrySettings(
    concurrency=32, per_host_concurrency=32, per_host_delay=0, fetch_retries=0,
    allow_private_networks=True, respect_robots=True,
)

async def main():
    async with Fetcher(settings) as fetcher:
        outcomes = await asyncio.gather(*(fetcher.fetch(url) for url in pages))
        found = await discover(
            fetcher, [origin], limit=100, max_bytes=settings.max_body_bytes,
            drop_params=frozenset(),
        )
    return [getattr(o, "error_type", "page") for o in outcomes], found

errors, found = asyncio.run(main())
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"errors": errors, "sitemap_pages": found, "peak_mb": peak}))
"""


def gzip_bomb(size: int, block: int = 1 << 20) -> bytes:
    """A valid gzip stream of an HTML page of ``size`` bytes (~1,000:1), built without
    compressing it all: after a full flush, every equal block compresses to equal bytes."""
    head = b"<!doctype html><html><head><title>bomb</title></head><body><p>"
    first_block = head + b"a" * (block - len(head))
    filler = b"a" * block
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    first = compressor.compress(first_block) + compressor.flush(zlib.Z_FULL_FLUSH)
    again = compressor.compress(filler) + compressor.flush(zlib.Z_FULL_FLUSH)
    end = compressor.flush()[:-8]  # the final empty block; its trailer is made below
    crc = zlib.crc32(first_block)
    for _ in range(size // block - 1):
        crc = zlib.crc32(filler, crc)
    trailer = struct.pack("<II", crc, size & 0xFFFFFFFF)
    return first + again * (size // block - 1) + end + trailer


@pytest.fixture(scope="module")
def bomb() -> bytes:
    data = gzip_bomb(INFLATED)
    assert len(data) < 3 * 1024**2
    return data


def test_gzip_bombs_are_cut_with_bounded_memory(bomb: bytes) -> None:
    encoded = {"Content-Type": "text/html", "Content-Encoding": "gzip"}
    pages = {f"/bomb/{i}": Response(200, bomb, encoded) for i in range(PAGES)}
    robots = Response(200, bomb, {"Content-Type": "text/plain", "Content-Encoding": "gzip"})
    with (
        SiteServer({**pages, "/robots.txt": robots}) as site,
        SiteServer(
            {
                "/a.xml": Response(200, bomb, {"Content-Encoding": "gzip"}),
                "/b.xml.gz": Response(200, bomb, {"Content-Type": "application/gzip"}),
            }
        ) as sitemaps,
    ):
        listed = f"Sitemap: {sitemaps.url('/a.xml')}\nSitemap: {sitemaps.url('/b.xml.gz')}\n"
        sitemaps.routes["/robots.txt"] = Response(200, listed.encode())
        done = subprocess.run(
            [
                sys.executable,
                "-c",
                CRAWLER,
                json.dumps([site.url(path) for path in pages]),
                sitemaps.url("/").rstrip("/"),
            ],
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        report = json.loads(done.stdout.splitlines()[-1])
        print(f"peak RSS of the crawler: {report['peak_mb']:.0f} MB")
        assert all(site.count(path) == 1 for path in pages)
        assert sitemaps.count("/a.xml") == 1 and sitemaps.count("/b.xml.gz") == 1
    assert report["errors"] == ["TooLarge"] * PAGES
    assert report["sitemap_pages"] == []
    assert report["peak_mb"] < PEAK_RSS_LIMIT_MB
