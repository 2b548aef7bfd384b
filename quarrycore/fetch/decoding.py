"""Content-Encoding decoded with a bound on every step's output.

httpx inflates each whole network read at once: a 64 KiB read of a gzip bomb became a
67 MB chunk before any size check could see it, and 32 of them at once took the crawler
to 2.2 GB. Here the raw body is inflated at most ``STEP`` bytes at a time
(``zlib``'s ``max_length``), so a reader that stops at its limit holds at most the limit
plus one step, whatever the compression ratio.
"""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterator, Iterator

import httpx

from quarrycore.exceptions import FetchConnectionError, UnsupportedEncoding

STEP = 64 * 1024
# What the crawler asks for: what it can decode with a bound (brotli and zstd bindings
# offer no output bound in the versions we can rely on).
ACCEPT_ENCODING = "gzip, deflate"
_GZIP_MAGIC = b"\x1f\x8b"


class _Inflater:
    """gzip (members one after another) or deflate (zlib-wrapped or raw, as servers
    send both under that name), at most ``STEP`` bytes out per piece."""

    def __init__(self, encoding: str) -> None:
        self._gzip = encoding in ("gzip", "x-gzip")
        self._raw_tried = False
        self._inflater = self._new()

    def _new(self) -> zlib._Decompress:
        return zlib.decompressobj(16 + zlib.MAX_WBITS if self._gzip else zlib.MAX_WBITS)

    def feed(self, data: bytes) -> Iterator[bytes]:
        pending = data
        while True:
            try:
                out = self._inflater.decompress(pending, STEP)
            except zlib.error as exc:
                if self._gzip or self._raw_tried:
                    raise FetchConnectionError(f"corrupt {self._name} body: {exc}") from exc
                # "deflate" sent without its zlib header: start again as raw deflate.
                self._raw_tried = True
                self._inflater = zlib.decompressobj(-zlib.MAX_WBITS)
                continue
            self._raw_tried = True  # the first bytes decoded: the format is settled
            if out:
                yield out
            pending = self._inflater.unconsumed_tail
            if self._inflater.eof:
                rest = self._inflater.unused_data
                if not (self._gzip and rest.startswith(_GZIP_MAGIC)):
                    return  # trailing bytes after the stream are ignored, as browsers do
                self._inflater, pending = self._new(), rest  # the next gzip member
                continue
            if not pending and len(out) < STEP:
                return  # all input taken, no output held back

    @property
    def _name(self) -> str:
        return "gzip" if self._gzip else "deflate"


class BoundedDecoder:
    """The decoder of one response's ``Content-Encoding`` (codings applied in order, so
    undone in reverse); ``identity`` and an absent header pass bytes through."""

    def __init__(self, content_encoding: str | None) -> None:
        codings = [c.strip().lower() for c in (content_encoding or "").split(",")]
        self._stages: list[_Inflater] = []
        for coding in reversed([c for c in codings if c and c != "identity"]):
            if coding not in ("gzip", "x-gzip", "deflate"):
                raise UnsupportedEncoding(f"Content-Encoding {coding!r} is not supported")
            self._stages.append(_Inflater(coding))

    def feed(self, data: bytes) -> Iterator[bytes]:
        """The decoded pieces of ``data`` (a raw read), each at most ``STEP`` bytes when
        the body is encoded."""
        pieces: Iterator[bytes] = iter((data,)) if data else iter(())
        for stage in self._stages:
            pieces = _through(stage, pieces)
        yield from pieces


def _through(stage: _Inflater, pieces: Iterator[bytes]) -> Iterator[bytes]:
    for piece in pieces:
        yield from stage.feed(piece)


async def body_pieces(
    response: httpx.Response, *, raw: list[bytes] | None = None
) -> AsyncIterator[bytes]:
    """The body of a streamed response, decoded a bounded piece at a time: the consumer
    checks its limit between pieces. ``raw`` (when given) collects the body as received,
    still encoded, for the archive. (A response built in memory, as a test transport
    makes them, was decoded by httpx already: its content is given as it is.)"""
    if response.is_stream_consumed:
        if raw is not None:
            raw.append(response.content)
        yield response.content
        return
    decoder = BoundedDecoder(response.headers.get("content-encoding"))
    async for chunk in response.aiter_raw():
        if raw is not None:
            raw.append(chunk)
        for piece in decoder.feed(chunk):
            yield piece


def decode_body(raw: bytes, content_encoding: str | None) -> bytes:
    """A whole body as received, decoded (an archived one: it was bounded when read)."""
    return b"".join(BoundedDecoder(content_encoding).feed(raw))
