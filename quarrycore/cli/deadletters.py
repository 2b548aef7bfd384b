"""``quarry dead-letters``: list, show, count, export and retry what failed."""

from __future__ import annotations

import asyncio
import csv
import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from quarrycore.cli.output import console, fail, hand_over, settings, store_errors
from quarrycore.cli.prefect import use_prefect_server
from quarrycore.deadletters import COLUMNS, DeadLetterFilter, DeadLetterStore
from quarrycore.exceptions import QuarryError

app = typer.Typer(help="Inspect and replay the URLs that finally failed.", no_args_is_help=True)

DlOption = Annotated[
    str | None, typer.Option("--dead-letter-db", help="SQLAlchemy URL of dead_letter.db.")
]
JobOption = Annotated[str | None, typer.Option("--job-id", help="Only this job.")]
StageOption = Annotated[str | None, typer.Option("--stage", help="validate|crawl|extract|store")]
TypeOption = Annotated[
    list[str] | None, typer.Option("--error-type", help="e.g. HTTPStatus (repeatable).")
]
JsonOption = Annotated[bool, typer.Option("--json", help="JSON for scripts.")]


def _open(url: str | None) -> DeadLetterStore:
    chosen = settings(dead_letter_url=url).dead_letter_url
    with store_errors(chosen):
        return DeadLetterStore(chosen)


def _default(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(type(value).__name__)


def _dump(rows: list[dict[str, Any]]) -> None:
    typer.echo(json.dumps(rows, indent=2, default=_default))


@app.command("list")
def list_(
    job_id: JobOption = None,
    stage: StageOption = None,
    error_type: TypeOption = None,
    retryable: Annotated[bool | None, typer.Option("--retryable/--permanent")] = None,
    resolved: Annotated[bool, typer.Option("--all", help="Include resolved rows.")] = False,
    limit: Annotated[int, typer.Option(help="At most this many rows.")] = 200,
    dead_letter_db: DlOption = None,
    as_json: JsonOption = False,
) -> None:
    """The open dead letters, newest last."""
    store = _open(dead_letter_db)
    selection = DeadLetterFilter(
        job_id=job_id,
        stage=stage,
        error_types=tuple(error_type or ()),
        retryable=retryable,
        unresolved_only=not resolved,
    )
    rows = list(store.rows(selection, limit=limit))
    if as_json:
        _dump(rows)
        return
    table = Table("job", "stage", "error", "status", "count", "retryable", "next retry", "url")
    for r in rows:
        table.add_row(
            r["job_id"],
            r["stage"],
            r["error_type"],
            str(r["status_code"] or "-"),
            str(r["failure_count"]),
            "yes" if r["retryable"] else "no",
            r["next_retry_at"].strftime("%Y-%m-%d %H:%M") if r["next_retry_at"] else "-",
            r["url"],
        )
    console.print(table)
    console.print(f"{len(rows)} row(s)")


@app.command()
def show(url: str, dead_letter_db: DlOption = None, as_json: JsonOption = False) -> None:
    """Everything recorded about one URL, in every job and stage."""
    rows = _open(dead_letter_db).for_url(url)
    if not rows:
        Console(stderr=True).print(f"no dead letter for {url}")
        raise typer.Exit(1)
    if as_json:
        _dump(rows)
        return
    for row in rows:
        table = Table("field", "value", title=f"{row['job_id']} / {row['stage']}")
        for name in COLUMNS:
            table.add_row(name, str(row[name]))
        console.print(table)


@app.command()
def stats(
    job_id: JobOption = None, dead_letter_db: DlOption = None, as_json: JsonOption = False
) -> None:
    """Open dead letters counted by stage and error type."""
    rows = _open(dead_letter_db).stats(DeadLetterFilter(job_id=job_id))
    if as_json:
        _dump(rows)
        return
    table = Table("stage", "error type", "retryable", "count")
    for r in rows:
        table.add_row(
            r["stage"], r["error_type"], "yes" if r["retryable"] else "no", str(r["count"])
        )
    console.print(table)
    console.print(f"total: {sum(r['count'] for r in rows)}")


@app.command()
def export(
    out: Annotated[Path, typer.Option("--out", help="File to write ('-' for stdout).")],
    fmt: Annotated[str, typer.Option("--format", help="jsonl or csv.")] = "jsonl",
    job_id: JobOption = None,
    resolved: Annotated[bool, typer.Option("--all", help="Include resolved rows.")] = False,
    dead_letter_db: DlOption = None,
) -> None:
    """Write dead letters as JSON lines or CSV."""
    if fmt not in ("jsonl", "csv"):
        raise fail(f"unknown format {fmt!r}: use jsonl or csv")
    rows = _open(dead_letter_db).rows(DeadLetterFilter(job_id=job_id, unresolved_only=not resolved))
    handle = sys.stdout if str(out) == "-" else out.open("w", encoding="utf-8", newline="")
    count = 0
    try:
        if fmt == "jsonl":
            for row in rows:
                handle.write(json.dumps(row, default=_default) + "\n")
                count += 1
        else:
            writer = csv.DictWriter(handle, fieldnames=list(COLUMNS))
            writer.writeheader()
            for row in rows:
                writer.writerow(
                    {k: json.dumps(v) if isinstance(v, dict) else v for k, v in row.items()}
                )
                count += 1
    finally:
        if handle is not sys.stdout:
            handle.close()
    Console(stderr=True).print(f"wrote {count} dead letters")


@app.command()
def retry(
    job_id: JobOption = None,
    stage: StageOption = None,
    error_type: TypeOption = None,
    max_attempts: Annotated[int | None, typer.Option(help="Skip rows failed this often.")] = None,
    due_only: Annotated[
        bool, typer.Option("--due-only/--now", help="Only rows whose retry time has come.")
    ] = False,
    force: Annotated[bool, typer.Option("--force", help="Retry permanent failures too.")] = False,
    db: Annotated[str | None, typer.Option("--db", help="SQLAlchemy URL of the store.")] = None,
    dead_letter_db: DlOption = None,
) -> None:
    """Replay dead letters through the pipeline (the replay-dead-letters flow)."""
    use_prefect_server(settings().data_dir)
    from quarrycore.flows.replay import replay_dead_letters

    try:
        results = asyncio.run(
            replay_dead_letters(
                job_id=job_id,
                stage=stage,
                error_types=error_type,
                max_attempts=max_attempts,
                only_due=due_only,
                force=force,
                database_url=hand_over(db, "QUARRY_DATABASE_PASSWORD") if db else None,
                dead_letter_url=(
                    hand_over(dead_letter_db, "QUARRY_DEAD_LETTER_PASSWORD")
                    if dead_letter_db
                    else None
                ),
            )
        )
    except QuarryError as exc:
        raise fail(str(exc)) from exc
    if not results:
        console.print("no dead letters to replay")
    for result in results:
        console.print(
            f"job {result.job_id}: {result.stored_count} stored, "
            f"{result.failed_count} failed, {result.pending_count} pending"
        )
