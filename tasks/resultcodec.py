"""The crawl task's persisted result: pickle, then zlib at level 1, base64'd once.

Used as Prefect's ``PickleSerializer(picklelib=...)``: Prefect base64-encodes what
``dumps`` returns, so the compressed pickle is encoded once. Prefect's
``CompressedSerializer`` around a ``PickleSerializer`` encoded twice (the whole
uncompressed pickle, then the compressed text): on 500 documentation pages 1.6 ms a page
to write and 0.7 to read back, against 0.5 and 0.2 here, at twice the size on disk.
zlib's default level and lzma had cost more CPU than the fetching itself.
"""

from __future__ import annotations

import pickle
import zlib
from typing import Any

__version__ = "2"


def dumps(obj: Any) -> bytes:
    return zlib.compress(pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL), 1)


def loads(data: bytes) -> Any:
    return pickle.loads(zlib.decompress(data))  # our own task's result file


# A batch persisted by a run before version 2 names this module as its compression
# library (CompressedSerializer): a resumed job reads it back through these two.
def compress(data: bytes) -> bytes:
    return zlib.compress(data, 1)


def decompress(data: bytes) -> bytes:
    return zlib.decompress(data)
