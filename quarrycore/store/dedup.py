"""Duplicates within a job, decided inside the store's commit transaction.

Exact: the same normalised text (content hash). Near: MinHash LSH candidates (band
keys persisted in ``minhash_bands``) whose signatures agree at least the threshold. A
duplicate records which stored URL it duplicates."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from quarrycore.extract.neardup import NearDupConfig, band_keys, similarity
from quarrycore.records import Document
from quarrycore.store.schema import documents, minhash_bands, url_key

Duplicate = tuple[Document, str, str]  # (document, URL it duplicates, error type)


def split_duplicates(
    conn: sa.Connection, job_id: str, docs: Sequence[Document], near: NearDupConfig | None
) -> tuple[list[Document], list[Duplicate]]:
    """(documents to store, duplicates); band keys of the kept ones are written."""
    own = [url_key(d.url) for d in docs]
    first_url: dict[str, str] = {}
    hashes = {d.content_hash for d in docs}
    if hashes:
        for url, digest in conn.execute(
            sa.select(documents.c.url, documents.c.content_hash).where(
                documents.c.job_id == job_id,
                documents.c.content_hash.in_(hashes),
                documents.c.url_key.not_in(own),
            )
        ):
            first_url.setdefault(digest, url)
    kept: list[Document] = []
    duplicates: list[Duplicate] = []
    for doc in docs:
        original = first_url.get(doc.content_hash)
        if original is None:
            first_url[doc.content_hash] = doc.url
            kept.append(doc)
        else:
            duplicates.append((doc, original, "Duplicate"))
    if near is None:
        return kept, duplicates
    return _split_near(conn, job_id, kept, duplicates, own, near)


def _split_near(
    conn: sa.Connection,
    job_id: str,
    kept: list[Document],
    duplicates: list[Duplicate],
    own: list[str],
    near: NearDupConfig,
) -> tuple[list[Document], list[Duplicate]]:
    keys = {d.url: band_keys(d.minhash, near) for d in kept if d.minhash}
    wanted = {k for ks in keys.values() for k in ks}
    candidates: dict[tuple[int, str], list[tuple[str, bytes]]] = defaultdict(list)
    if wanted:
        rows = conn.execute(
            sa.select(
                minhash_bands.c.band, minhash_bands.c.key, documents.c.url, documents.c.minhash
            )
            .join(
                documents,
                sa.and_(
                    documents.c.job_id == minhash_bands.c.job_id,
                    documents.c.url_key == minhash_bands.c.url_key,
                ),
            )
            .where(
                minhash_bands.c.job_id == job_id,
                sa.tuple_(minhash_bands.c.band, minhash_bands.c.key).in_(list(wanted)),
                minhash_bands.c.url_key.not_in(own),
            )
        )
        for band, key, url, sig in rows:
            if sig:
                candidates[(band, key)].append((url, bytes(sig)))
    final: list[Document] = []
    band_rows: list[dict[str, Any]] = []
    for doc in kept:
        doc_keys = keys.get(doc.url)
        if doc.minhash is None or doc_keys is None:
            final.append(doc)
            continue
        match = next(
            (
                url
                for k in doc_keys
                for url, sig in candidates.get(k, [])
                if similarity(doc.minhash, sig) >= near.threshold
            ),
            None,
        )
        if match is not None:
            duplicates.append((doc, match, "NearDuplicate"))
            continue
        final.append(doc)
        for band, key in doc_keys:  # later documents of this batch compare with it too
            candidates[(band, key)].append((doc.url, doc.minhash))
            band_rows.append(
                {"job_id": job_id, "band": band, "key": key, "url_key": url_key(doc.url)}
            )
    if band_rows:
        from quarrycore.store.engine import upsert

        upsert(conn, minhash_bands, band_rows, keys=["job_id", "band", "key", "url_key"])
    return final, duplicates
