"""Reading a job's WARC archive the way standard tools do, to check the store's
pointers into it."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from warcio.archiveiterator import ArchiveIterator

from quarrycore.records import WarcRef
from quarrycore.store import DocumentStore

EXTRACTED = ("stored", "filtered", "duplicate")


def responses(warc_dir: Path) -> dict[WarcRef, str]:
    """Every response record of every WARC file, read by warcio from each file's start:
    (file, offset, length) -> target URI. A torn last record (a killed run's) ends its
    file's reading."""
    found: dict[WarcRef, str] = {}
    for path in sorted(warc_dir.rglob("*.warc.gz")):
        with open(path, "rb") as stream:
            iterator = ArchiveIterator(stream)
            try:
                for record in iterator:
                    record.content_stream().read()
                    if record.rec_type == "response":
                        ref = WarcRef(
                            str(path.relative_to(warc_dir)),
                            iterator.get_record_offset(),
                            iterator.get_record_length(),
                        )
                        found[ref] = record.rec_headers.get_header("WARC-Target-URI")
            except Exception:  # a torn tail: nothing after it is referenced
                pass
    return found


def check_archive(store: DocumentStore, job_id: str, warc_dir: Path) -> dict[str, WarcRef]:
    """Each extracted URL's row points at a response record of its own, as warcio reads
    the files; returns URL -> record."""
    found = responses(warc_dir)
    rows = store.warc_records(job_id)
    refs = {url: ref for url, (_, ref) in rows.items() if ref is not None}
    for url, (state, ref) in rows.items():
        if state in EXTRACTED:
            assert ref is not None, f"{url} ({state}) has no record"
    missing = [url for url, ref in refs.items() if ref not in found]
    assert missing == [], f"rows point at no record: {missing[:3]}"
    assert max(Counter(refs.values()).values(), default=1) == 1  # no record referenced twice
    return refs
