"""Sitemap discovery: robots.txt ``Sitemap:`` lines and /sitemap.xml, sitemap indexes,
gzip sitemaps; every fetch through the crawler's limits and SSRF guard."""

from __future__ import annotations

import gzip
import io
import zlib
from collections.abc import Iterable
from urllib.parse import urljoin, urlsplit

from lxml import etree

from quarrycore.exceptions import URLFailure
from quarrycore.fetch.client import Fetcher
from quarrycore.urls import normalize_url

MAX_SITEMAPS = 100  # documents fetched per discovery, indexes included
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False, recover=True)


def _gunzip(data: bytes, limit: int) -> bytes:
    """Decompress a gzip sitemap, cut at ``limit`` bytes (a gzip bomb stops there)."""
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=io.BytesIO(data)) as stream:
        while chunk := stream.read(64 * 1024):
            out.write(chunk)
            if out.tell() > limit:
                break
    return out.getvalue()[:limit]


def parse_sitemap(data: bytes, base: str) -> tuple[list[str], list[str]]:
    """(page URLs, child sitemap URLs) of one sitemap or sitemap index."""
    try:
        root = etree.fromstring(data, _PARSER)
    except etree.XMLSyntaxError:
        return [], []
    if root is None:
        return [], []
    kind = etree.QName(root).localname.lower()
    locs = [
        urljoin(base, (el.text or "").strip())
        for el in root.iter()
        if isinstance(el.tag, str) and etree.QName(el).localname == "loc" and el.text
    ]
    return ([], locs) if kind == "sitemapindex" else (locs, [])


async def discover(
    fetcher: Fetcher,
    origins: Iterable[str],
    *,
    limit: int,
    max_bytes: int,
    drop_params: frozenset[str],
) -> list[str]:
    """Page URLs listed by the origins' sitemaps, normalised, in order, at most ``limit``."""
    queue: list[str] = []
    for origin in dict.fromkeys(origins):
        queue += await fetcher.robots_sitemaps(origin)
        queue.append(f"{origin}/sitemap.xml")
    seen: set[str] = set()
    pages: dict[str, None] = {}
    fetched = 0
    while queue and len(pages) < limit and fetched < MAX_SITEMAPS:
        url = queue.pop(0)
        if url in seen:
            continue
        seen.add(url)
        body = await fetcher.fetch_bytes(url)
        fetched += 1
        if not body:
            continue
        if body[:2] == b"\x1f\x8b":
            try:
                body = _gunzip(body, max_bytes)
            except (OSError, EOFError, zlib.error):
                continue
        found, children = parse_sitemap(body, url)
        queue += children
        for page in found:
            try:
                pages.setdefault(normalize_url(page, drop_params=drop_params), None)
            except URLFailure:
                continue
    return list(pages)[:limit]


def origins_of(urls: Iterable[str]) -> list[str]:
    result: list[str] = []
    for url in urls:
        parts = urlsplit(url)
        if parts.scheme in ("http", "https") and parts.netloc:
            result.append(f"{parts.scheme}://{parts.netloc}")
    return list(dict.fromkeys(result))
