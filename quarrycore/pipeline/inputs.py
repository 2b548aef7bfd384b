"""A job's inputs: their sites (for the scope and the sitemaps), the pages the sitemaps
list, and their registration in the store, streamed a chunk at a time."""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

from quarrycore.deadletters import DeadLetterStore
from quarrycore.exceptions import ConfigError, InvalidURL
from quarrycore.fetch import Fetcher
from quarrycore.fetch.sitemaps import discover
from quarrycore.pipeline.request import JobRequest
from quarrycore.pipeline.scope import CrawlScope
from quarrycore.records import Failure
from quarrycore.settings import QuarrySettings
from quarrycore.store import DocumentStore
from quarrycore.store.intake import IntakeCounts, register_inputs
from quarrycore.urls import normalize_url, read_urls_file

logger = logging.getLogger("quarrycore.job")


def input_origins(inputs: Iterable[str], *, drop_params: frozenset[str]) -> list[str]:
    """``scheme://host[:port]`` of the valid inputs, once each, in order (streamed)."""
    origins: dict[str, None] = {}
    for raw in inputs:
        try:
            parts = urlsplit(normalize_url(raw, drop_params=drop_params))
        except InvalidURL:
            continue
        origins.setdefault(f"{parts.scheme}://{parts.netloc}", None)
    return list(origins)


def hosts_of(origins: Iterable[str]) -> list[str]:
    return [urlsplit(origin).netloc for origin in origins]


async def sitemap_pages(
    settings: QuarrySettings, origins: list[str], scope: CrawlScope
) -> list[str]:
    """The in-scope pages the sitemaps of these sites list."""
    async with Fetcher(settings) as fetcher:
        found = await discover(
            fetcher,
            origins,
            limit=scope.max_pages or 1_000_000,
            max_bytes=settings.max_body_bytes,
            drop_params=settings.drop_params,
        )
    return [url for url in found if scope.accepts(url, 0)]


def register(
    store: DocumentStore,
    dead_letters: DeadLetterStore,
    job_id: str,
    inputs: Iterable[str],
    *,
    drop_params: frozenset[str],
    limit: int | None,
    run_id: str | None,
    on_chunk: Callable[[IntakeCounts], None] = lambda counts: None,
    should_stop: Callable[[], bool] = lambda: False,
) -> IntakeCounts:
    """Register the inputs with the job a chunk at a time (at most ``limit`` URLs in the
    job); the invalid ones are dead-lettered at stage ``validate`` once (blocking). See
    :func:`register_inputs` for ``on_chunk`` and ``should_stop``."""

    def dead_letter(invalid: list[Failure]) -> None:
        dead_letters.record(job_id, invalid, flow_run_id=run_id, only_new=True)

    return register_inputs(
        store,
        job_id,
        itertools.chain(inputs),
        drop_params=drop_params,
        limit=limit,
        on_invalid=dead_letter,
        on_chunk=on_chunk,
        should_stop=should_stop,
    )


def inputs_to_register(
    job_id: str, request: JobRequest, found: list[str], unfinished: list[str] | None
) -> tuple[Iterator[str], list[str]] | None:
    """What this run registers: the inputs given (and the sitemaps' pages), and the rest
    of a registration an earlier run left ``unfinished`` (its files, read again: a URL
    the job has is skipped); with the files to mark the registration with. ``None``:
    nothing to register. A registration of inline inputs left unfinished, resumed
    without them, is a :class:`ConfigError` (they are not kept)."""
    given = [str(Path(request.urls_file).resolve())] if request.urls_file else []
    sources: list[Iterable[str]] = [request.inputs(), found]
    files = list(given)
    for path in unfinished or []:
        if path in given:
            continue
        if not Path(path).is_file():
            raise ConfigError(
                f"job {job_id!r} stopped while registering its inputs from {path}, which "
                "cannot be read here: resume it where that file is, or give the file again"
            )
        logger.warning("job %s stopped while registering %s: registering the rest", job_id, path)
        sources.append(read_urls_file(path))
        files.append(path)
    inline = bool(request.urls or request.seeds or found)
    if unfinished == [] and not inline:
        if not given:
            raise ConfigError(
                f"job {job_id!r} stopped while registering the inputs it was given inline, "
                "which are not kept: resume it with the same inputs to register the rest"
            )
        logger.warning(
            "job %s stopped while registering inputs given inline, which are not kept: "
            "give them again if they are not in %s",
            job_id,
            given[0],
        )
    if not inline and not files:
        return None
    return itertools.chain.from_iterable(sources), files
