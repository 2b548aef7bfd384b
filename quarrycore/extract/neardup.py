"""Near-duplicates: MinHash signatures of word 5-grams (minhash.py), LSH bands to find
candidates, signature agreement to decide (FineWeb's setup: 5-grams, 112 permutations,
14 bands). What the store needs of a signature is here, in numpy alone."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, slots=True, kw_only=True)
class NearDupConfig:
    num_perm: int = 112
    bands: int = 14
    shingle: int = 5
    threshold: float = 0.8  # estimated Jaccard similarity at which a page is a duplicate


def band_keys(sig: bytes, config: NearDupConfig) -> list[tuple[int, str]]:
    values = np.frombuffer(sig, dtype=np.uint32)
    rows = len(values) // config.bands
    return [
        (band, hashlib.sha1(values[band * rows : (band + 1) * rows].tobytes()).hexdigest()[:16])
        for band in range(config.bands)
    ]


def similarity(a: bytes, b: bytes) -> float:
    left, right = np.frombuffer(a, dtype=np.uint32), np.frombuffer(b, dtype=np.uint32)
    if len(left) != len(right) or not len(left):
        return 0.0
    return float(np.mean(left == right))
