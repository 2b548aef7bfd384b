"""The ``documents`` and ``minhash_bands`` tables: stored documents, and which of a
batch's documents the job already has. Every statement on them is in this module.

Duplicates are decided inside the commit transaction. Exact: the same normalised text
(content hash). Near: MinHash LSH candidates (band keys persisted in ``minhash_bands``)
whose signatures agree at least the threshold. A duplicate records which stored URL it
duplicates.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Literal

import sqlalchemy as sa

from quarrycore.db import fit, upsert
from quarrycore.exceptions import Duplicate, NearDuplicate
from quarrycore.extract.neardup import NearDupConfig, band_keys, similarity
from quarrycore.records import Document
from quarrycore.store.schema import DOCUMENT_FIELDS, documents, minhash_bands
from quarrycore.urls import url_key

Which = Literal["kept", "filtered", "all"]  # which stored documents a reader wants


@dataclass(frozen=True, slots=True)
class Repeat:
    """A document of the batch that the job already has."""

    document: Document
    of: str  # the URL whose stored document it repeats
    kind: type[Duplicate]  # Duplicate or NearDuplicate


def insert(
    conn: sa.Connection,
    job_id: str,
    docs: Sequence[Document],
    now: datetime,
    *,
    versions: Mapping[str, int] | None = None,
) -> None:
    """Upsert documents (key: job + URL, so a URL is never stored twice for a job), each
    as version 1 or as ``versions`` says (a changed page's next version)."""
    rows = []
    for doc in docs:
        row = asdict(doc)
        row["out_links"] = list(doc.out_links)
        row.update(job_id=job_id, url_key=url_key(doc.url), stored_at=now, gone_at=None)
        row["version"] = (versions or {}).get(doc.url, 1)
        rows.append(fit(documents, row))
    upsert(conn, documents, rows, keys=["job_id", "url_key"], update=list(DOCUMENT_FIELDS))


def split_duplicates(
    conn: sa.Connection, job_id: str, docs: Sequence[Document], near: NearDupConfig | None
) -> tuple[list[Document], list[Repeat]]:
    """(documents to store, repeats); the band keys of the kept ones are written."""
    own = [url_key(d.url) for d in docs]
    first_url: dict[str, str] = {}
    hashes = {d.content_hash for d in docs}
    if hashes:
        for url, digest in conn.execute(
            sa.select(documents.c.url, documents.c.content_hash).where(
                documents.c.job_id == job_id,
                documents.c.content_hash.in_(hashes),
                documents.c.url_key.not_in(own),
                documents.c.filter.is_(None),  # a kept document, not a filtered one
            )
        ):
            first_url.setdefault(digest, url)
    kept: list[Document] = []
    repeats: list[Repeat] = []
    for doc in docs:
        original = first_url.get(doc.content_hash)
        if original is None:
            first_url[doc.content_hash] = doc.url
            kept.append(doc)
        else:
            repeats.append(Repeat(doc, original, Duplicate))
    if near is None:
        return kept, repeats
    return _split_near(conn, job_id, kept, repeats, own, near)


def _candidates(
    conn: sa.Connection, job_id: str, wanted: set[tuple[int, str]], own: list[str]
) -> dict[tuple[int, str], list[tuple[str, bytes]]]:
    """Stored documents sharing a band key with the batch: (band, key) -> (URL, signature)."""
    candidates: dict[tuple[int, str], list[tuple[str, bytes]]] = defaultdict(list)
    if not wanted:
        return candidates
    rows = conn.execute(
        sa.select(minhash_bands.c.band, minhash_bands.c.key, documents.c.url, documents.c.minhash)
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
    return candidates


def _split_near(
    conn: sa.Connection,
    job_id: str,
    kept: list[Document],
    repeats: list[Repeat],
    own: list[str],
    near: NearDupConfig,
) -> tuple[list[Document], list[Repeat]]:
    keys = {d.url: band_keys(d.minhash, near) for d in kept if d.minhash}
    candidates = _candidates(conn, job_id, {k for ks in keys.values() for k in ks}, own)
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
            repeats.append(Repeat(doc, match, NearDuplicate))
            continue
        final.append(doc)
        for band, key in doc_keys:  # later documents of this batch compare with it too
            candidates[(band, key)].append((doc.url, doc.minhash))
            band_rows.append(
                {"job_id": job_id, "band": band, "key": key, "url_key": url_key(doc.url)}
            )
    upsert(conn, minhash_bands, band_rows, keys=["job_id", "band", "key", "url_key"])
    return final, repeats


def iter_rows(
    engine: sa.Engine,
    job_id: str | None,
    *,
    which: Which,
    since: datetime | None = None,
    gone: bool = False,
) -> Iterator[dict[str, Any]]:
    """Stored documents (of one job, or all) as column dicts, streamed; pages found gone
    only with ``gone``; with ``since``, only what changed since then (stored, or gone)."""
    query = sa.select(documents).order_by(
        documents.c.job_id, documents.c.stored_at, documents.c.url_key
    )
    if job_id is not None:
        query = query.where(documents.c.job_id == job_id)
    query = query.where(verdict_filter(documents, which))
    if not gone:
        query = query.where(documents.c.gone_at.is_(None))
    if since is not None:
        query = query.where(sa.or_(documents.c.stored_at >= since, documents.c.gone_at >= since))
    with engine.connect() as conn:
        for row in conn.execution_options(yield_per=1000).execute(query).mappings():
            yield dict(row)


def verdict_filter(table: sa.Table, which: Which) -> sa.ColumnElement[bool]:
    """The rows of ``table`` (documents or their versions) a reader of ``which`` wants."""
    if which == "kept":
        return table.c.filter.is_(None)
    if which == "filtered":
        return table.c.filter.is_not(None)
    return sa.true()


def stored_page(conn: sa.Connection, job_id: str, after_key: str, limit: int) -> list[Document]:
    """Up to ``limit`` stored documents of the job (kept and filtered) after ``after_key``,
    in ``url_key`` order: a cursor that survives rows changing verdict under it."""
    rows = conn.execute(
        sa.select(documents)
        .where(documents.c.job_id == job_id, documents.c.url_key > after_key)
        .order_by(documents.c.url_key)
        .limit(limit)
    ).mappings()
    return [_document(row) for row in rows]


def _document(row: Any) -> Document:
    fields = {name: row[name] for name in Document.__dataclass_fields__ if name in row}
    fields["out_links"] = tuple(row["out_links"] or ())
    fields["minhash"] = bytes(row["minhash"]) if row["minhash"] is not None else None
    return Document(**fields)


def set_verdict(conn: sa.Connection, job_id: str, docs: Sequence[Document]) -> None:
    """Write each document's (new) filter verdict."""
    for doc in docs:
        conn.execute(
            documents.update()
            .where(documents.c.job_id == job_id, documents.c.url_key == url_key(doc.url))
            .values(filter=doc.filter, filter_reason=doc.filter_reason)
        )


def forget(conn: sa.Connection, job_id: str, urls: Sequence[str], *, rows: bool) -> None:
    """Drop the near-dup band keys of ``urls`` (no longer kept), and with ``rows`` their
    document rows too (they turned out to repeat a kept document)."""
    keys = [url_key(url) for url in urls]
    if not keys:
        return
    conn.execute(
        minhash_bands.delete().where(
            minhash_bands.c.job_id == job_id, minhash_bands.c.url_key.in_(keys)
        )
    )
    if rows:
        conn.execute(
            documents.delete().where(documents.c.job_id == job_id, documents.c.url_key.in_(keys))
        )
