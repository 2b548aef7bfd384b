"""Checkpoint cost as a job grows: file and Block saves for 10k / 100k / 1M pending
URLs, and what a resume of such a job costs before its first batch.

Baseline in the same run: a Block that carries the whole ``urls_remaining`` list (the
seed's design), against ours (counts + a short inline list; the store keeps the rest).

    .venv/bin/python bench/checkpoint.py            # 10k, 100k, 1M
    .venv/bin/python bench/checkpoint.py --sizes 10000 100000
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import ParamSpec, TypedDict, TypeVar

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

P = ParamSpec("P")
T = TypeVar("T")


class Row(TypedDict):
    """One size's figures, in seconds unless the name says otherwise."""

    size: int
    register_s: float
    snapshot_s: float
    file_s: float
    file_kb: float
    block_s: float
    full_block_s: float | None  # None: the full-list baseline was skipped at this size
    load_block_s: float
    resume_s: float


def _timed(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> tuple[T, float]:
    started = time.perf_counter()
    value = fn(*args, **kwargs)
    return value, time.perf_counter() - started


async def _atimed(coro: Awaitable[T]) -> tuple[T, float]:
    started = time.perf_counter()
    value = await coro
    return value, time.perf_counter() - started


async def measure(size: int, workdir: Path, full_block_limit: int) -> Row:
    from quarrycore.blocks.checkpoint import BlockMirror, PipelineCheckpointBlock
    from quarrycore.checkpoint import CheckpointFile, read_checkpoint, snapshot
    from quarrycore.settings import QuarrySettings
    from quarrycore.store import DocumentStore

    job = f"bench-{size}"
    settings = QuarrySettings(
        database_url=f"sqlite:///{workdir / 'bench.db'}", checkpoint_dir=workdir / "checkpoints"
    )
    store = DocumentStore(settings.database_url)
    store.start_job(job, {})
    _, register_s = _timed(store.add_urls, job, (f"http://site.test/{i}" for i in range(size)))
    checkpoint, snapshot_s = _timed(
        snapshot,
        store,
        job,
        settings,
        stage="running",
        pipeline_id=None,
        start_time=datetime.now(UTC),
    )
    files = CheckpointFile(settings.checkpoint_dir)
    path, file_s = _timed(files.write, checkpoint)
    mirror = BlockMirror(inline_limit=settings.checkpoint_block_inline_urls)
    _, block_s = await _atimed(mirror.save(checkpoint))

    full_block_s: float | None = None
    if size <= full_block_limit:  # the seed's design: every remaining URL in the Block
        urls = store.pending_urls(job, size) or []
        full = PipelineCheckpointBlock(
            **{**checkpoint.model_dump(), "urls_remaining": urls, "urls_remaining_complete": True}
        )
        _, full_block_s = await _atimed(full.asave(f"bench-full-{size}", overwrite=True))

    # Resume: read the file (else the Block), count, and get the first batch.
    _, read_s = _timed(read_checkpoint, path)
    _, load_block_s = await _atimed(mirror.load(job))
    started = time.perf_counter()
    store.counts(job)
    next(store.iter_pending(job, settings.batch_size))
    resume_s = read_s + (time.perf_counter() - started)
    store.close()
    return {
        "size": size,
        "register_s": register_s,
        "snapshot_s": snapshot_s,
        "file_s": file_s,
        "file_kb": path.stat().st_size / 1024,
        "block_s": block_s,
        "full_block_s": full_block_s,
        "load_block_s": load_block_s,
        "resume_s": resume_s,
    }


async def main_async(sizes: list[int], full_block_limit: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:  # warm up: server, client, block type
        await measure(10, Path(tmp), full_block_limit)
    rows = []
    for size in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            rows.append(await measure(size, Path(tmp), full_block_limit))
    print(
        f"\n{'pending URLs':>12} {'register':>9} {'snapshot':>9} {'file':>7} {'file KB':>8}"
        f" {'Block':>7} {'full-list Block':>16} {'ratio':>7} {'resume':>8}"
    )
    for r in rows:
        full = r["full_block_s"]
        ratio = f"{full / r['block_s']:.0f}x" if full else "-"
        full_text = f"{full:.3f}" if full else "(skipped)"
        print(
            f"{r['size']:>12,} {r['register_s']:>8.2f}s {r['snapshot_s']:>8.3f}s"
            f" {r['file_s']:>6.3f}s {r['file_kb']:>8.0f} {r['block_s']:>6.3f}s"
            f" {full_text:>16} {ratio:>7} {r['resume_s']:>7.3f}s"
        )
    print(
        "times in seconds; 'ratio' = full-list Block save / our Block save; "
        "'resume' = read checkpoint + count + first batch from the store"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument(
        "--full-block-limit",
        type=int,
        default=100_000,
        help="largest size for which the full-list Block baseline runs",
    )
    args = parser.parse_args()
    asyncio.run(main_async(args.sizes, args.full_block_limit))


if __name__ == "__main__":
    main()
