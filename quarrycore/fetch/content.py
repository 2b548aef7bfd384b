"""Is a response HTML? The Content-Type, and a sniff of the body where it says nothing."""

from __future__ import annotations

from datetime import datetime

from quarrycore.exceptions import NotHTML
from quarrycore.fetch.charset import decode_html
from quarrycore.records import Exchange, FetchedPage
from quarrycore.settings import HTML_CONTENT_TYPES

SNIFF_BYTES = 1024  # the head of a body that the sniffing looks at


def looks_like_html(head: bytes) -> bool:
    """Sniff a body without a usable Content-Type: markup, and no NUL bytes."""
    if b"\x00" in head:
        return False
    start = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return start.startswith((b"<!doctype html", b"<html", b"<head", b"<body", b"<!--"))


def classify_content_type(header: str | None, head: bytes) -> str:
    """Return the media type if the response is HTML; raise :class:`NotHTML` otherwise."""
    media_type = (header or "").split(";", 1)[0].strip().lower()
    if media_type in HTML_CONTENT_TYPES:
        if b"\x00" in head:
            raise NotHTML(f"declared {media_type} but the body is binary")
        return media_type
    if media_type in ("", "application/octet-stream", "text/plain") and looks_like_html(head):
        return "text/html"
    raise NotHTML(f"content type {media_type or '(none)'} is not HTML")


def html_page(
    *,
    url: str,
    final_url: str,
    status_code: int,
    content_type: str | None,
    body: bytes,
    fetched_at: datetime,
    exchanges: tuple[Exchange, ...] = (),
) -> FetchedPage:
    """The page of a response's decoded body: the same for a live fetch and for a body
    read back from the archive. Raises :class:`NotHTML` for anything but HTML."""
    media_type = classify_content_type(content_type, body[:SNIFF_BYTES])
    text, encoding = decode_html(body, content_type)
    return FetchedPage(
        url=url,
        final_url=final_url,
        status_code=status_code,
        content_type=media_type,
        html=text,
        encoding=encoding,
        fetched_at=fetched_at,
        exchanges=exchanges,
    )
