"""Archived crawls in: records/minute of QuarryCore on WARC files against a plain
datatrove pipeline (WarcReader -> Trafilatura -> JSONL writer) on the same files, in the
same run; and how fast warcio and fastwarc merely read the records.

The WARC files (gzip per record) are written first from the extraction benchmark's 181
articles and pages of a documentation site (Debian's python3.11-doc), each page once.

    .venv/bin/python -m pip install fastwarc faust-cchardet python-magic  # the bench's own
    .venv/bin/python bench/warc_input.py --docs 400
"""

from __future__ import annotations

import argparse
import gzip
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
CORPUS = ROOT.parent / "shared" / "corpora" / "article-extraction-benchmark" / "html"


def _pages(docs: int) -> dict[str, bytes]:
    from tests.support.docsite import docsite_pages

    pages = {
        f"http://bench.test/{f.name}": gzip.decompress(f.read_bytes())
        for f in sorted(CORPUS.glob("*.html.gz"))
    }
    pages.update({f"http://docs.test/{k}": v for k, v in docsite_pages(docs).items()})
    return pages


def _read_warcio(paths: list[Path]) -> int:
    from warcio.archiveiterator import ArchiveIterator

    n = 0
    for path in paths:
        with open(path, "rb") as stream:
            for record in ArchiveIterator(stream):
                if record.rec_type == "response":
                    record.content_stream().read()
                    n += 1
    return n


def _read_fastwarc(paths: list[Path]) -> int:
    from fastwarc.warc import ArchiveIterator, WarcRecordType

    n = 0
    for path in paths:
        with open(path, "rb") as stream:
            for record in ArchiveIterator(stream, record_types=WarcRecordType.response):
                record.reader.read()
                n += 1
    return n


def _datatrove(folder: Path, out: Path, workers: int) -> float:
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.extractors import Trafilatura
    from datatrove.pipeline.readers import WarcReader
    from datatrove.pipeline.writers import JsonlWriter

    started = time.perf_counter()
    LocalPipelineExecutor(
        pipeline=[WarcReader(str(folder)), Trafilatura(), JsonlWriter(str(out))],
        tasks=workers,
        workers=workers,
        logging_dir=str(out / "logs"),
    ).run()
    return time.perf_counter() - started


def _quarrycore(paths: list[Path], tmp: Path, name: str, quality: bool) -> tuple[float, int]:
    from quarrycore.flows.crawl import quarry_crawl

    result = quarry_crawl(
        job_id=name,
        database_url=f"sqlite:///{tmp / name}.db",
        warc_files=[str(p) for p in paths],
        options={
            "data_dir": str(tmp / name),
            "quality": {"enabled": quality, "near_dedup": quality},
        },
    )
    return result.duration_s, result.processed_count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--docs", type=int, default=400)
    args = parser.parse_args()
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    from tests.support.warcfiles import write_warc

    pages = _pages(args.docs)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        folder = tmp / "warc"
        folder.mkdir()
        items = list(pages.items())
        half = len(items) // 2
        paths = [
            write_warc(folder / "a.warc.gz", dict(items[:half])),
            write_warc(folder / "b.warc.gz", dict(items[half:])),
        ]
        size = sum(p.stat().st_size for p in paths)
        reads = {}
        for name, reader in (("warcio", _read_warcio), ("fastwarc", _read_fastwarc)):
            started = time.perf_counter()
            assert reader(paths) == len(pages)
            reads[name] = time.perf_counter() - started
        cores = os.cpu_count() or 1
        dt = _datatrove(folder, tmp / "dt", cores)
        shutil.rmtree(tmp / "dt", ignore_errors=True)
        plain, done = _quarrycore(paths, tmp, "plain", quality=False)
        assert done == len(pages), done
        full, _ = _quarrycore(paths, tmp, "defaults", quality=True)

    def rate(seconds: float) -> float:
        return len(pages) / seconds * 60

    print(f"\n{len(pages)} records in 2 files ({size / 1e6:.1f} MB), {cores} cores")
    for name, seconds in reads.items():
        print(f"read only, {name:<9} {seconds:7.2f} s  {rate(seconds):>10.0f} records/min")
    rows = [
        ("datatrove (WarcReader, Trafilatura, JSONL)", dt),
        ("quarrycore, no filters/dedup", plain),
        ("quarrycore, default filters + dedup", full),
    ]
    for name, seconds in rows:
        print(f"{name:<44}{seconds:8.2f} s {rate(seconds):>9.0f} records/min")
    print(f"ratio quarrycore (no filters) / datatrove, records/min: {dt / plain:.2f}x")


if __name__ == "__main__":
    main()
