"""The ``quarry`` command line."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from quarrycore.cli.deadletters import app as dead_letters_app
from quarrycore.exceptions import ConfigError, NoURLsError, QuarryError
from quarrycore.jobid import new_job_id, validate_job_id
from quarrycore.settings import QuarrySettings
from quarrycore.store.engine import make_engine
from quarrycore.urls import gather_inputs

app = typer.Typer(
    help="QuarryCore: turn URLs into clean documents in a database.",
    no_args_is_help=True,
    add_completion=False,
)
console = Console()
app.add_typer(dead_letters_app, name="dead-letters")

DbOption = Annotated[str | None, typer.Option("--db", help="SQLAlchemy URL of the store.")]
JobOption = Annotated[str | None, typer.Option("--job-id", help="Job id.")]


def _fail(message: str, code: int = 2) -> typer.Exit:
    Console(stderr=True).print(f"[red]error:[/red] {message}", highlight=False)
    return typer.Exit(code)


def _settings(**overrides: Any) -> QuarrySettings:
    try:
        return QuarrySettings(**{k: v for k, v in overrides.items() if v is not None})
    except ValueError as exc:
        raise _fail(f"invalid setting: {exc}") from exc


@app.command()
def crawl(
    urls: Annotated[list[str] | None, typer.Argument(help="URLs to crawl.")] = None,
    urls_file: Annotated[
        Path | None, typer.Option("--urls-file", help="File, a URL a line.")
    ] = None,
    job_id: JobOption = None,
    resume: Annotated[
        str | None, typer.Option("--resume", help="Resume this job from its checkpoint.")
    ] = None,
    db: DbOption = None,
    batch_size: Annotated[int | None, typer.Option(help="URLs per task run.")] = None,
    concurrency: Annotated[int | None, typer.Option(help="Requests in flight.")] = None,
    checkpoint_interval: Annotated[
        float | None, typer.Option(help="Seconds between checkpoints.")
    ] = None,
    seed: Annotated[
        list[str] | None, typer.Option("--seed", help="Start URL of a link-following crawl.")
    ] = None,
    max_depth: Annotated[int | None, typer.Option(help="Links followed from a seed.")] = None,
    max_pages: Annotated[int | None, typer.Option(help="URLs in the job, at most.")] = None,
    same_host: Annotated[
        bool, typer.Option("--same-host/--any-host", help="Follow links on the seeds' hosts.")
    ] = True,
    allow_domain: Annotated[
        list[str] | None, typer.Option("--allow-domain", help="Follow links to this domain.")
    ] = None,
    include: Annotated[list[str] | None, typer.Option(help="Follow only matching URLs.")] = None,
    exclude: Annotated[list[str] | None, typer.Option(help="Never follow matching URLs.")] = None,
    sitemaps: Annotated[
        bool, typer.Option("--sitemaps", help="Also crawl the pages the sites' sitemaps list.")
    ] = False,
    allow_private_networks: Annotated[
        bool,
        typer.Option(
            "--allow-private-networks",
            help="Allow private/loopback addresses (intranets; off by default: SSRF guard).",
        ),
    ] = False,
    markdown: Annotated[
        bool,
        typer.Option("--markdown", help="Also store each document as Markdown (headings, lists)."),
    ] = False,
    progress: Annotated[bool, typer.Option(help="Show a live progress bar.")] = True,
) -> None:
    """Crawl URLs, extract their text and store it. Ctrl-C stops after committing the
    batches in flight; `--resume JOB_ID` continues where the job stopped."""
    settings = _settings(
        database_url=db,
        batch_size=batch_size,
        concurrency=concurrency,
        checkpoint_interval=checkpoint_interval,
    )
    if resume and job_id and resume != job_id:
        raise _fail("--resume and --job-id name different jobs")
    try:
        job = validate_job_id(resume or job_id or new_job_id())
        make_engine(settings.database_url).dispose()  # a malformed URL fails here, fast
        raw = gather_inputs(urls, urls_file)
        if not raw and not seed and not job_id and not resume:
            raise NoURLsError("no URLs given: pass URLs, --urls-file, or --job-id of a job")
    except QuarryError as exc:
        raise _fail(str(exc)) from exc

    # Imported here: Prefect costs ~1.5 s to import, and only crawling needs it.
    from quarrycore.flows.crawl import quarry_crawl
    from quarrycore.flows.localserver import ensure_detached_server

    console.print(f"job [bold]{job}[/bold] → {settings.database_url}")
    parameters: dict[str, Any] = {
        "urls": raw,
        "job_id": job,
        "database_url": settings.database_url,
        "batch_size": settings.batch_size,
        "concurrency": settings.concurrency,
        "checkpoint_interval": settings.checkpoint_interval,
        "resume": resume is not None,
    }
    if sitemaps:
        parameters["sitemaps"] = True
    if seed or max_depth is not None or max_pages is not None:
        parameters.update(
            seeds=seed or [],
            max_depth=max_depth or 0,
            max_pages=max_pages,
            same_host=same_host,
            allow_domains=allow_domain or [],
            include=include or [],
            exclude=exclude or [],
        )
    if allow_private_networks:
        parameters.setdefault("options", {})["allow_private_networks"] = True
    if markdown:
        parameters.setdefault("options", {})["markdown"] = True
    try:
        ensure_detached_server()
        if resume:
            _check_resumable(settings, job)
        if progress and sys.stderr.isatty():
            from quarrycore.cli.progress import StoreProgress

            with StoreProgress(settings.database_url, job):
                result = asyncio.run(_run_flow(quarry_crawl, parameters))
        else:
            result = asyncio.run(_run_flow(quarry_crawl, parameters))
    except KeyboardInterrupt:
        raise _fail(f"interrupted; resume with: quarry crawl --resume {job}", 130) from None
    except QuarryError as exc:
        raise _fail(str(exc)) from exc
    _print_summary(result.summary_rows(), title=f"job {job}")
    if result.state != "completed":
        raise _fail(f"job {job} {result.state}; resume with: quarry crawl --resume {job}", 1)


def _check_resumable(settings: QuarrySettings, job: str) -> None:
    """Fail fast, before the flow starts, on a damaged checkpoint or an unknown job."""
    from quarrycore.flows.crawl import find_checkpoint
    from quarrycore.store.documents import DocumentStore

    checkpoint = asyncio.run(find_checkpoint(settings, job, None))
    if checkpoint is None:
        store = DocumentStore(settings.database_url)
        try:
            if not store.job_exists(job):
                raise ConfigError(
                    f"nothing to resume: no checkpoint and no job {job!r} in "
                    f"{settings.database_url}"
                )
        finally:
            store.close()


async def _run_flow(flow: Any, parameters: dict[str, Any]) -> Any:
    return await flow(**parameters)


@app.command()
def status(
    job_id: JobOption = None,
    db: DbOption = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Counts of a job (or of every job) as the store has them."""
    from quarrycore.store.documents import DocumentStore

    settings = _settings(database_url=db)
    try:
        store = DocumentStore(settings.database_url)
    except QuarryError as exc:
        raise _fail(str(exc)) from exc
    job_ids = [job_id] if job_id else store.job_ids()
    if job_id and not store.job_exists(job_id):
        raise _fail(f"no job {job_id!r} in {settings.database_url}")
    report = [(store.job_status(job), store.counts(job)) for job in job_ids]
    store.close()
    if as_json:
        rows = [{"status": status, **asdict(counts)} for status, counts in report]
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table("job", "status", "stored", "failed", "pending", "failures by stage/type")
    for status, counts in report:
        failures = ", ".join(f"{k}: {v}" for k, v in sorted(counts.failures_by_type.items()))
        table.add_row(
            counts.job_id,
            str(status),
            str(counts.stored),
            str(counts.failed),
            str(counts.pending),
            failures or "-",
        )
    console.print(table)


@app.command()
def export(
    out: Annotated[Path, typer.Option("--out", help="File to write.")],
    fmt: Annotated[str, typer.Option("--format", help="jsonl or parquet.")] = "jsonl",
    job_id: JobOption = None,
    db: DbOption = None,
) -> None:
    """Write stored documents as JSONL or Parquet (text, id, url, date, language, ...)."""
    from quarrycore.store.documents import DocumentStore
    from quarrycore.store.export import export_documents

    if fmt not in ("jsonl", "parquet"):
        raise _fail(f"unknown format {fmt!r}: use jsonl or parquet")
    settings = _settings(database_url=db)
    try:
        store = DocumentStore(settings.database_url)
        if job_id and not store.job_exists(job_id):
            raise _fail(f"no job {job_id!r} in {settings.database_url}")
        count = export_documents(store, out, fmt=fmt, job_id=job_id)  # type: ignore[arg-type]
    except QuarryError as exc:
        raise _fail(str(exc)) from exc
    console.print(f"wrote {count} documents to {out}")


@app.command()
def demo(
    db: DbOption = None,
    job_id: JobOption = None,
    port: Annotated[int, typer.Option(help="Port of the sample site (0: any free one).")] = 0,
) -> None:
    """Serve the shipped sample site on 127.0.0.1 and crawl every page of it."""
    from quarrycore.demo import SampleSite

    # Our own server on 127.0.0.1: allow the loopback address, and no politeness delay.
    os.environ.setdefault("QUARRY_PER_HOST_DELAY", "0")
    os.environ.setdefault("QUARRY_PER_HOST_CONCURRENCY", "16")
    with SampleSite(port=port) as site:
        urls = site.article_urls()
        console.print(f"sample site: {site.url('/')} ({len(urls)} articles)")
        crawl(urls=urls, job_id=job_id or new_job_id(), db=db, allow_private_networks=True)


@app.command("serve-sample")
def serve_sample(port: Annotated[int, typer.Option(help="Port on 127.0.0.1.")] = 8765) -> None:
    """Serve the sample site until interrupted, to try `quarry crawl` on real URLs."""
    import threading

    from quarrycore.demo import SampleSite

    with SampleSite(port=port) as site:
        console.print(f"serving {site.url('/')} — Ctrl-C to stop")
        for url in site.article_urls():
            typer.echo(url)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()


def _print_summary(rows: list[dict[str, str | int | float]], *, title: str) -> None:
    table = Table("metric", "value", title=title)
    for row in rows:
        table.add_row(str(row["metric"]), str(row["value"]))
    console.print(table)


if __name__ == "__main__":
    app()
