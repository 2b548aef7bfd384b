"""MinHash signatures and their agreement."""

from __future__ import annotations

from quarrycore.extract.minhash import signature
from quarrycore.extract.neardup import NearDupConfig, band_keys, similarity

TEXT = " ".join(
    f"sentence {i} tells of the harvest in the valley and the market day" for i in range(40)
)


def test_similar_texts_agree_and_different_ones_do_not() -> None:
    config = NearDupConfig()
    base = signature(TEXT, config)
    edited = signature(TEXT.replace("sentence 39", "sentence thirty-nine"), config)
    other = signature(" ".join(f"word{i}" for i in range(400)), config)
    assert similarity(base, base) == 1.0
    assert similarity(base, edited) >= config.threshold
    assert similarity(base, other) < 0.1
    assert len(band_keys(base, config)) == config.bands
    shared = set(band_keys(base, config)) & set(band_keys(edited, config))
    assert shared  # LSH finds the candidate
    assert signature(TEXT, config) == base  # deterministic across processes (fixed seed)
