"""Content-Encoding decoded with a bound on each piece: the codings servers send (gzip,
several gzip members, zlib-wrapped and raw deflate, stacked codings), and clear failures
for the rest."""

from __future__ import annotations

import gzip
import zlib
from collections.abc import AsyncIterator

import httpx
import pytest

from quarrycore.exceptions import FetchConnectionError, UnsupportedEncoding
from quarrycore.fetch.decoding import STEP, BoundedDecoder, body_pieces

TEXT = b"<html><body><p>" + b"quarry " * 200_000 + b"</p></body></html>"


def _raw_deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    return compressor.compress(data) + compressor.flush()


def _decode(encoding: str | None, body: bytes, read: int = 4096) -> list[bytes]:
    decoder = BoundedDecoder(encoding)
    return [piece for i in range(0, len(body), read) for piece in decoder.feed(body[i : i + read])]


@pytest.mark.parametrize(
    ("encoding", "body"),
    [
        (None, TEXT),
        ("identity", TEXT),
        ("gzip", gzip.compress(TEXT)),
        ("x-gzip", gzip.compress(TEXT)),
        ("GZIP", gzip.compress(TEXT)),
        ("deflate", zlib.compress(TEXT)),  # RFC 9110: zlib-wrapped
        ("deflate", _raw_deflate(TEXT)),  # what some servers send under that name
        ("gzip", gzip.compress(TEXT[:1000]) + gzip.compress(TEXT[1000:])),  # two members
        ("deflate, gzip", gzip.compress(zlib.compress(TEXT))),  # applied in order
        ("gzip", gzip.compress(TEXT) + b"\r\n\x00junk"),  # trailing bytes are ignored
    ],
    ids=[
        "none",
        "identity",
        "gzip",
        "x-gzip",
        "upper",
        "zlib",
        "raw",
        "members",
        "stacked",
        "tail",
    ],
)
def test_each_coding_decodes_in_bounded_pieces(encoding: str | None, body: bytes) -> None:
    pieces = _decode(encoding, body)
    assert b"".join(pieces) == TEXT
    if encoding not in (None, "identity"):
        assert max(len(piece) for piece in pieces) <= STEP


def test_one_huge_read_still_comes_out_in_steps() -> None:
    bomb = gzip.compress(bytes(50 * 1024 * 1024))
    pieces = BoundedDecoder("gzip").feed(bomb)  # the whole body as one read
    first = next(pieces)
    assert len(first) == STEP  # nothing more was inflated than the step asked for


def test_a_coding_without_a_bounded_decoder_is_refused() -> None:
    with pytest.raises(UnsupportedEncoding, match="'br'"):
        BoundedDecoder("br")
    assert not UnsupportedEncoding("x").retryable


def test_a_corrupt_body_is_a_connection_error() -> None:
    with pytest.raises(FetchConnectionError, match="corrupt gzip"):
        _decode("gzip", b"\x1f\x8b\x08\x00garbage-garbage-garbage")


async def test_a_streamed_response_is_read_raw_and_decoded_here() -> None:
    response = httpx.Response(
        200, headers={"Content-Encoding": "gzip"}, stream=_Stream(gzip.compress(TEXT))
    )
    pieces = [piece async for piece in body_pieces(response)]
    assert b"".join(pieces) == TEXT and max(map(len, pieces)) <= STEP


class _Stream(httpx.AsyncByteStream):
    """A body that arrives a thousand raw bytes at a time, as from the network."""

    def __init__(self, body: bytes) -> None:
        self._body = body

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for i in range(0, len(self._body), 1000):
            yield self._body[i : i + 1000]
