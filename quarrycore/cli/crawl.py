"""``quarry crawl``, and ``quarry demo`` / ``quarry serve-sample`` on the sample site."""

from __future__ import annotations

import asyncio
import contextlib
import glob
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import sqlalchemy as sa
import typer

from quarrycore.cli.output import (
    DbOption,
    JobOption,
    check_reachable,
    console,
    database_reason,
    fail,
    hand_over,
    print_summary,
    settings,
)
from quarrycore.cli.prefect import use_prefect_server
from quarrycore.credentials import mask_url
from quarrycore.exceptions import QuarryError, RunStopped
from quarrycore.jobid import new_job_id
from quarrycore.pipeline.request import JobRequest, check_request
from quarrycore.settings import QuarrySettings, parse_duration


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
    recrawl_after: Annotated[
        str | None,
        typer.Option(
            "--recrawl-after",
            help="Fetch again the job's URLs checked longer ago than this (1d, 12h, 30m).",
        ),
    ] = None,
    warc: Annotated[
        list[str] | None,
        typer.Option("--warc", help="An archived crawl: a WARC file (or glob) to read, not fetch."),
    ] = None,
    warc_list: Annotated[
        Path | None, typer.Option("--warc-list", help="A file listing WARC files, one a line.")
    ] = None,
    shards: Annotated[
        int | None,
        typer.Option(
            "--shards",
            min=1,
            help="Split the job by host into N shards, each run by its own process.",
        ),
    ] = None,
    progress: Annotated[bool, typer.Option(help="Show a live progress bar.")] = True,
) -> None:
    """Crawl URLs, extract their text and store it. Ctrl-C stops after committing the
    batches in flight; `--resume JOB_ID` continues where the job stopped."""
    chosen = settings(
        database_url=db,
        batch_size=batch_size,
        concurrency=concurrency,
        checkpoint_interval=checkpoint_interval,
    )
    if resume and job_id and resume != job_id:
        raise fail("--resume and --job-id name different jobs")
    # A URL's user:password@ is dropped by the job's normalisation; hidden here already,
    # so the flow's parameters (kept by the Prefect server) never hold it.
    request = JobRequest(
        urls=[mask_url(url, query=False) for url in urls or ()],
        urls_file=str(urls_file.resolve()) if urls_file else None,
        seeds=[mask_url(url, query=False) for url in seed or ()],
        job_id=resume or job_id,
        resume=resume is not None,
        warc_files=_warc_files(warc or [], warc_list),
        shards=shards,
    )
    try:
        check_request(request, chosen)
    except QuarryError as exc:
        raise fail(str(exc)) from exc
    check_reachable(chosen.database_url)
    job = request.job_id or new_job_id()
    options: dict[str, Any] = {}
    if allow_private_networks:
        options["allow_private_networks"] = True
    if markdown:
        options["markdown"] = True
    parameters: dict[str, Any] = {
        "urls": list(request.urls),
        "urls_file": request.urls_file,
        "job_id": job,
        "database_url": hand_over(chosen.database_url, "QUARRY_DATABASE_PASSWORD"),
        "batch_size": chosen.batch_size,
        "concurrency": chosen.concurrency,
        "checkpoint_interval": chosen.checkpoint_interval,
        "resume": request.resume,
        "sitemaps": sitemaps,
        "options": options or None,
    }
    if shards is not None:
        parameters["shards"] = shards
    warc_files = _warc_files(warc or [], warc_list)
    if warc_files:
        parameters["warc_files"] = warc_files
    if recrawl_after is not None:
        try:
            parse_duration(recrawl_after)
        except ValueError as exc:
            raise fail(f"--recrawl-after: {exc}") from exc
        parameters["recrawl_after"] = recrawl_after
    if seed or max_depth is not None or max_pages is not None:
        parameters.update(
            seeds=list(request.seeds),
            max_depth=max_depth or 0,
            max_pages=max_pages,
            same_host=same_host,
            allow_domains=allow_domain or [],
            include=include or [],
            exclude=exclude or [],
        )
    _run(chosen, job, parameters, resume=resume is not None, progress=progress)


def _warc_files(patterns: list[str], listing: Path | None) -> list[str]:
    """Absolute paths of the WARC files named (globs expanded) and listed; a pattern that
    matches nothing is kept as it is, for the job to refuse with its name."""
    names = list(patterns)
    if listing is not None:
        try:
            lines = listing.read_text().splitlines()
        except OSError as exc:
            raise fail(f"cannot read --warc-list {listing}: {exc}") from exc
        names += [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    found: list[str] = []
    for name in names:
        matches = sorted(glob.glob(os.path.expanduser(name)))
        found += [str(Path(m).resolve()) for m in matches] or [name]
    return found


def reextract(
    job_id: Annotated[str, typer.Option("--job-id", help="The job to extract again.")],
    db: DbOption = None,
    batch_size: Annotated[int | None, typer.Option(help="URLs per task run.")] = None,
    progress: Annotated[bool, typer.Option(help="Show a live progress bar.")] = True,
) -> None:
    """Extract a job again from its WARC archive: today's extractor, filters and dedup
    (QUARRY_QUALITY__*), not one request to a site. Stopped, it resumes when run again."""
    chosen = settings(database_url=db, batch_size=batch_size)
    check_reachable(chosen.database_url)
    parameters: dict[str, Any] = {
        "job_id": job_id,
        "database_url": hand_over(chosen.database_url, "QUARRY_DATABASE_PASSWORD"),
        "batch_size": chosen.batch_size,
    }
    _run(chosen, job_id, parameters, resume=False, progress=progress, archive=True)


def _run(
    chosen: QuarrySettings,
    job: str,
    parameters: dict[str, Any],
    *,
    resume: bool,
    progress: bool,
    archive: bool = False,
) -> None:
    console.print(f"job [bold]{job}[/bold] → {mask_url(chosen.database_url)}")
    again = f"quarry reextract --job-id {job}" if archive else f"quarry crawl --resume {job}"
    try:
        use_prefect_server(chosen.data_dir)
        # Imported here: Prefect costs ~1.5 s to import, and only crawling needs it.
        from quarrycore.flows.crawl import quarry_crawl
        from quarrycore.flows.reextract import quarry_reextract

        flow = quarry_reextract if archive else quarry_crawl
        if resume:
            # The flow's own resume checks, before it starts: a clear line, no failed run.
            from quarrycore.flows.hooks import mirror_for
            from quarrycore.pipeline.job import check_resumable

            request = JobRequest(job_id=job, resume=True)
            asyncio.run(check_resumable(request, chosen, mirror_for(chosen)))
        if progress and sys.stderr.isatty():
            from quarrycore.cli.progress import StoreProgress

            with StoreProgress(chosen.database_url, job):
                result = flow(**parameters)  # runs to its result from sync code
        else:
            result = flow(**parameters)  # runs to its result from sync code
    except KeyboardInterrupt:
        raise fail(f"interrupted; resume with: {again}", 130) from None
    except RunStopped as exc:
        raise fail(f"{exc}; resume with: {again}", 1) from exc
    except QuarryError as exc:
        raise fail(str(exc)) from exc
    except sa.exc.DBAPIError as exc:  # the store went away before the run could start
        reason = database_reason(exc)
        raise fail(f"the store {mask_url(chosen.database_url)} failed: {reason}", 1) from exc
    print_summary(result.summary_rows(), title=f"job {job}")
    if result.state != "completed":
        raise fail(f"job {job} {result.state}; resume with: {again}", 1)


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
