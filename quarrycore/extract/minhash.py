"""The near-duplicate signature of a text: datasketch's MinHash of its word 5-grams.

Computed in the extraction processes. datasketch imports scipy (~60 MB and ~0.4 s here);
the store compares signatures with neardup.py's numpy-only helpers, so the flow process
never imports it."""

from __future__ import annotations

import numpy as np
from datasketch import MinHash

from quarrycore.extract.neardup import NearDupConfig
from quarrycore.text import words


def signature(text: str, config: NearDupConfig) -> bytes:
    tokens = words(text)
    n = config.shingle
    shingles = {" ".join(tokens[i : i + n]).encode() for i in range(max(1, len(tokens) - n + 1))}
    minhash = MinHash(num_perm=config.num_perm, seed=1)
    minhash.update_batch(list(shingles))
    return bytes(minhash.hashvalues.astype(np.uint32).tobytes())
