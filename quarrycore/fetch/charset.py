"""Turning body bytes into text when headers and meta tags may lie.

Order of evidence: a byte-order mark, then each declared charset (HTTP header, then
``<meta>``) that decodes the body without error, then statistical detection. A
declaration that fails to decode the body is ignored rather than trusted.
"""

from __future__ import annotations

import codecs

import charset_normalizer
from w3lib.encoding import html_body_declared_encoding, http_content_type_encoding, read_bom
from w3lib.encoding import resolve_encoding as _resolve

_DETECT_SAMPLE = 64 * 1024
_ASCII = bytes(range(128))
_REPLACEMENT = "\ufffd".encode()
# UTF-8 with a few broken sequences is still UTF-8 (as a browser reads it, each broken
# sequence one U+FFFD), when at most this share of its non-ASCII bytes are in error: a
# page in another charset read as UTF-8 breaks at nearly every non-ASCII byte.
_UTF8_MAX_ERROR_SHARE = 0.01


def _resolve_encoding(name: str | None) -> str | None:
    if not name:
        return None
    resolved: str | None = _resolve(name)
    if resolved is None:
        return None
    try:
        return str(codecs.lookup(resolved).name)
    except LookupError:
        return None


def decode_html(body: bytes, content_type: str | None) -> tuple[str, str]:
    """Decode an HTML body; return ``(text, encoding used)``."""
    bom_encoding, bom = read_bom(body)
    if bom_encoding and bom:
        encoding = _resolve_encoding(bom_encoding) or "utf-8"
        return body[len(bom) :].decode(encoding, errors="replace"), encoding

    from_meta = _resolve_encoding(html_body_declared_encoding(body[:4096]))
    if from_meta is not None and from_meta.startswith("utf-16"):
        # A <meta> could only be read because the document is ASCII-compatible: WHATWG's
        # prescan turns a declared UTF-16 into UTF-8.
        from_meta = "utf-8"
    declared = [
        _resolve_encoding(http_content_type_encoding(content_type or "")),
        from_meta,
    ]
    for candidate in declared:
        if candidate is None:
            continue
        try:
            return body.decode(candidate), candidate
        except UnicodeDecodeError:
            if candidate == "utf-8" and (text := _mostly_utf8(body)) is not None:
                return text, "utf-8"
            continue

    try:
        return body.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        if (text := _mostly_utf8(body)) is not None:
            return text, "utf-8"
    best = charset_normalizer.from_bytes(body[:_DETECT_SAMPLE]).best()
    encoding = _resolve_encoding(best.encoding if best else None) or "cp1252"
    return body.decode(encoding, errors="replace"), encoding


def _mostly_utf8(body: bytes) -> str | None:
    """``body`` as UTF-8 with its few broken sequences replaced, or None when too much of
    it is broken to be UTF-8 (one stray byte made a whole page cp1252 mojibake before)."""
    text = body.decode("utf-8", errors="replace")
    errors = text.count("\ufffd") - body.count(_REPLACEMENT)
    non_ascii = len(body.translate(None, _ASCII))
    if non_ascii and errors <= _UTF8_MAX_ERROR_SHARE * non_ascii:
        return text
    return None
