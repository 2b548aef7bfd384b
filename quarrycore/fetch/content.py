"""Is a response HTML? The Content-Type, and a sniff of the body where it says nothing."""

from __future__ import annotations

from quarrycore.exceptions import NotHTML
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
