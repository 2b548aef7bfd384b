"""``quarry status`` and ``quarry export``: what the store holds."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, get_args

import typer
from rich.table import Table

from quarrycore.cli.output import DbOption, JobOption, console, fail, settings, store_errors
from quarrycore.credentials import mask_url
from quarrycore.store.documents import Which
from quarrycore.store.export import ExportFormat

VISITS = ("new", "changed", "unchanged", "gone", "failed")


def status(
    job_id: JobOption = None,
    db: DbOption = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Counts of a job (or of every job) as the store has them."""
    from quarrycore.store import DocumentStore

    chosen = settings(database_url=db)
    with store_errors(chosen.database_url):
        store = DocumentStore(chosen.database_url)
        try:
            if job_id and not store.job_exists(job_id):
                raise fail(f"no job {job_id!r} in {mask_url(chosen.database_url)}")
            job_ids = [job_id] if job_id else store.job_ids()
            report = [(store.job_status(job), store.counts(job)) for job in job_ids]
            inputs = {job: store.warc_input_progress(job) for job in job_ids}
            shards = {job: store.shards.states(job) for job in job_ids}
        finally:
            store.close()
    if as_json:
        rows = [
            {
                "status": state,
                **asdict(counts),
                "warc_inputs": inputs[counts.job_id],
                "shards": [asdict(shard) for shard in shards[counts.job_id]],
            }
            for state, counts in report
        ]
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table(
        "job",
        "status",
        "stored",
        "filtered",
        "duplicate",
        "failed",
        "gone",
        "pending",
        "last round: new/changed/unchanged/gone/failed",
        "filtered by",
        "failures by stage/type",
    )
    for state, counts in report:
        failures = ", ".join(f"{k}: {v}" for k, v in sorted(counts.failures_by_type.items()))
        filters = ", ".join(f"{k}: {v}" for k, v in sorted(counts.filtered_by.items()))
        table.add_row(
            counts.job_id,
            str(state),
            str(counts.stored),
            str(counts.filtered),
            str(counts.duplicate),
            str(counts.failed),
            str(counts.gone),
            str(counts.pending),
            f"{counts.visit_run}: " + "/".join(str(counts.visits.get(name, 0)) for name in VISITS),
            filters or "-",
            failures or "-",
        )
    console.print(table)
    for job, files in inputs.items():  # a job of input WARC files: how far each is read
        for name, offset in sorted(files.items()):
            where = "read" if offset < 0 else f"registered up to byte {offset:,}"
            console.print(f"{job}: {name}: {where}")
    for job, states in shards.items():  # a job fanned out: a line a shard
        for shard in states:
            running = "running" if shard.held else shard.status
            console.print(
                f"{job}: shard {shard.shard}: {shard.done} of {shard.done + shard.pending} done, "
                f"{shard.hosts} hosts, {running}, {shard.runs} run(s)"
            )


def export(
    out: Annotated[Path, typer.Option("--out", help="File to write.")],
    fmt: Annotated[str, typer.Option("--format", help="jsonl or parquet.")] = "jsonl",
    job_id: JobOption = None,
    db: DbOption = None,
    include_filtered: Annotated[
        bool,
        typer.Option("--include-filtered", help="Also documents a quality filter rejected."),
    ] = False,
    only_filtered: Annotated[
        bool, typer.Option("--only-filtered", help="Only rejected documents (an audit).")
    ] = False,
    versions: Annotated[
        str, typer.Option("--versions", help="latest (each page's) or all (its history).")
    ] = "latest",
    changed_since: Annotated[
        datetime | None,
        typer.Option(
            "--changed-since",
            help="Only versions stored and pages gone since then (an incremental export); "
            "UTC unless the time has an offset.",
            formats=[
                "%Y-%m-%d",
                "%Y-%m-%dT%H:%M",
                "%Y-%m-%dT%H:%M:%S",
                "%Y-%m-%dT%H:%M:%S.%f",
                "%Y-%m-%dT%H:%M:%S%z",
                "%Y-%m-%d %H:%M:%S",
            ],
        ),
    ] = None,
) -> None:
    """Write stored documents as JSONL or Parquet (text, id, url, date, language, ...):
    the kept ones, unless told otherwise; every row carries its verdict (quality_ok,
    filter, filter_reason)."""
    from quarrycore.store import DocumentStore
    from quarrycore.store.export import export_documents

    formats: tuple[ExportFormat, ...] = get_args(ExportFormat)
    if fmt not in formats:
        raise fail(f"unknown format {fmt!r}: use {' or '.join(formats)}")
    if versions not in ("latest", "all"):
        raise fail(f"unknown --versions {versions!r}: use latest or all")
    # A date without a zone is UTC, as every time the store keeps.
    since = (
        changed_since.replace(tzinfo=UTC)
        if changed_since and not changed_since.tzinfo
        else changed_since
    )
    chosen = settings(database_url=db)
    with store_errors(chosen.database_url):
        store = DocumentStore(chosen.database_url)
        if job_id and not store.job_exists(job_id):
            raise fail(f"no job {job_id!r} in {mask_url(chosen.database_url)}")
        which: Which = "filtered" if only_filtered else "all" if include_filtered else "kept"
        count = export_documents(
            store,
            out,
            fmt=fmt,
            job_id=job_id,
            which=which,
            versions="all" if versions == "all" else "latest",
            changed_since=since,
        )
    console.print(f"wrote {count} documents to {out}")


def refilter(
    job_id: Annotated[str, typer.Option("--job-id", help="The job to judge again.")],
    db: DbOption = None,
    batch_size: Annotated[int, typer.Option(help="Documents a transaction.")] = 500,
) -> None:
    """Apply today's quality filters and dedup (QUARRY_QUALITY__*) to the texts the job
    stored, without fetching; print what moved. Run it again to finish a stopped one."""
    from quarrycore.pipeline.refilter import refilter_job
    from quarrycore.store import DocumentStore

    chosen = settings(database_url=db)
    with store_errors(chosen.database_url):
        store = DocumentStore(chosen.database_url)
        try:
            if not store.job_exists(job_id):
                raise fail(f"no job {job_id!r} in {mask_url(chosen.database_url)}")
            report = refilter_job(store, job_id, chosen, batch_size=batch_size)
        finally:
            store.close()
    console.print(report.summary())
