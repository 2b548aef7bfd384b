"""Exact duplicates within a job: the same normalised text (content hash) is stored
once; later URLs with it record which URL they duplicate."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from quarrycore.records import Document
from quarrycore.schema import documents, url_key


def split_exact_duplicates(
    conn: sa.Connection, job_id: str, docs: Sequence[Document]
) -> tuple[list[Document], list[tuple[Document, str]]]:
    hashes = {d.content_hash for d in docs}
    own = [url_key(d.url) for d in docs]
    first_url: dict[str, str] = {}
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
    duplicates: list[tuple[Document, str]] = []
    for doc in docs:
        original = first_url.get(doc.content_hash)
        if original is None:
            first_url[doc.content_hash] = doc.url
            kept.append(doc)
        else:
            duplicates.append((doc, original))
    return kept, duplicates
