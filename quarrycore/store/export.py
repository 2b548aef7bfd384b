"""Writing stored documents as datasets: JSONL and Parquet, FineWeb-style columns."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
import pyarrow.parquet as pq

from quarrycore.store.documents import Which
from quarrycore.store.documentstore import DocumentStore, Versions

ExportFormat = Literal["jsonl", "parquet"]

# FineWeb's names where it has the field (text, id, url, date, language, language_score),
# then ours.
SCHEMA = pa.schema(
    [
        ("text", pa.string()),
        ("id", pa.string()),
        ("url", pa.string()),
        ("date", pa.string()),
        ("language", pa.string()),
        ("language_score", pa.float64()),
        ("title", pa.string()),
        ("author", pa.string()),
        ("description", pa.string()),
        ("site_name", pa.string()),
        ("canonical_url", pa.string()),
        ("final_url", pa.string()),
        ("status_code", pa.int32()),
        ("word_count", pa.int64()),
        ("content_hash", pa.string()),
        ("fetched_at", pa.timestamp("us", tz="UTC")),
        ("job_id", pa.string()),
        ("markdown", pa.string()),  # null unless the job ran with the markdown setting
        # The quality filters' verdict: true for a kept document; else the filter that
        # rejected it and why (only in exports that include filtered documents).
        ("quality_ok", pa.bool_()),
        ("filter", pa.string()),
        ("filter_reason", pa.string()),
        # Revisits: the page's version (1 for a first fetch), and when it was found gone
        # (404/410; only in --versions all or --changed-since exports).
        ("version", pa.int32()),
        ("gone_at", pa.timestamp("us", tz="UTC")),
    ]
)
_ROW_GROUP = 1000


def export_row(doc: dict[str, Any]) -> dict[str, Any]:
    """One dataset row from a stored document."""
    row = {name: doc.get(name) for name in SCHEMA.names}
    row["id"] = hashlib.sha1(f"{doc['job_id']}\n{doc['url']}".encode()).hexdigest()
    row["quality_ok"] = doc.get("filter") is None
    row["version"] = doc.get("version") or 1
    return row


def export_documents(
    store: DocumentStore,
    out: Path,
    *,
    fmt: ExportFormat,
    job_id: str | None = None,
    which: Which = "kept",
    versions: Versions = "latest",
    changed_since: datetime | None = None,
) -> int:
    """Write the stored documents (of one job, or all) to ``out``: the kept ones, the
    filtered ones or both (``which``), each page's latest version or all of them,
    everything or what changed since a time (see ``DocumentStore.iter_documents``);
    return the count. ``id`` is the page's (job and URL): with every version, ``id`` and
    ``version`` together name a row."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".partial")
    docs = store.iter_documents(job_id, which=which, versions=versions, changed_since=changed_since)
    rows = (export_row(doc) for doc in docs)
    count = _write_jsonl(rows, tmp) if fmt == "jsonl" else _write_parquet(rows, tmp)
    tmp.replace(out)  # a reader never sees half a file
    return count


def _json_default(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot serialise {type(value).__name__}")


def _write_jsonl(rows: Iterator[dict[str, Any]], path: Path) -> int:
    count = 0
    with path.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False, default=_json_default) + "\n")
            count += 1
    return count


def _write_parquet(rows: Iterator[dict[str, Any]], path: Path) -> int:
    count = 0
    with pq.ParquetWriter(path, SCHEMA, compression="zstd") as writer:
        chunk: list[dict[str, Any]] = []
        for row in rows:
            chunk.append(row)
            if len(chunk) >= _ROW_GROUP:
                writer.write_table(pa.Table.from_pylist(chunk, schema=SCHEMA))
                count += len(chunk)
                chunk = []
        if chunk or count == 0:
            writer.write_table(pa.Table.from_pylist(chunk, schema=SCHEMA))
            count += len(chunk)
    return count
