"""What a run is asked to do, and the checks of it that need no store.

One :class:`JobRequest` is built by the CLI and by the flow from their arguments;
:func:`check_request` is what both run first, so a bad request fails the same way, with
the same words, before any work (the CLI runs it before Prefect even starts).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from quarrycore.db import make_engine
from quarrycore.exceptions import ConfigError, NoURLsError
from quarrycore.jobid import validate_job_id
from quarrycore.pipeline.scope import CrawlScope
from quarrycore.settings import QuarrySettings
from quarrycore.urls import iter_inputs, read_urls_file


@dataclass(frozen=True, slots=True, kw_only=True)
class ScopeRequest:
    """The bounds of a link-following crawl as asked (see :class:`CrawlScope`)."""

    max_depth: int = 0
    max_pages: int | None = None
    same_host: bool = True
    allow_domains: Sequence[str] = ()
    include: Sequence[str] = ()
    exclude: Sequence[str] = ()

    def scope(self, seed_hosts: Iterable[str]) -> CrawlScope:
        """The scope, with these hosts (``host[:port]`` of the inputs) as the seeds'."""
        return CrawlScope.from_json(
            {
                "max_depth": self.max_depth,
                "max_pages": self.max_pages,
                "same_host": self.same_host,
                "seed_hosts": sorted(set(seed_hosts)),
                "allow_domains": list(self.allow_domains),
                "include": list(self.include),
                "exclude": list(self.exclude),
            }
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class JobRequest:
    """A crawl as asked: inputs, which job, resume or not, link following."""

    urls: Sequence[str] = ()
    urls_file: str | None = None
    seeds: Sequence[str] = ()
    job_id: str | None = None
    resume: bool = False
    resume_from: str | None = None  # a checkpoint file
    scope: ScopeRequest | None = None  # None: no link following asked (a rerun keeps the job's)
    sitemaps: bool = False
    reextract: bool = False  # the job's pages read from its WARC archive, not fetched
    warc_files: Sequence[str] = ()  # input WARC files (an archived crawl): read, not fetched
    shards: int | None = None  # fan the job out into this many shards (fanout.py)
    shard: int | None = None  # run only this shard of a job fanned out

    @property
    def resuming(self) -> bool:
        return self.resume or self.resume_from is not None

    def inputs(self) -> Iterator[str]:
        """The raw inputs, seeds first, then ``urls``, then the file's, read lazily."""
        return itertools.chain(self.seeds, iter_inputs(self.urls, self.urls_file))

    def has_inputs(self) -> bool:
        """Whether any input is given (reads the file's first URL at most)."""
        return next(self.inputs(), None) is not None


def check_request(request: JobRequest, settings: QuarrySettings) -> None:
    """Check what can be checked without the store, reading no more of a URL file than
    its first line. Raises a :class:`QuarryError` with the reason."""
    if request.job_id is not None:
        validate_job_id(request.job_id)
    make_engine(settings.database_url).dispose()  # a malformed URL or missing driver
    if request.resume and not request.job_id and not request.resume_from:
        raise ConfigError("resume needs the job id (or resume_from, a checkpoint file)")
    if request.urls_file:
        next(read_urls_file(request.urls_file), None)  # missing or unreadable: ConfigError
    if request.warc_files and (request.urls or request.urls_file or request.seeds):
        raise ConfigError("give WARC files or URLs to a job, not both")
    if request.shards is not None and request.shards < 1:
        raise ConfigError(f"shards must be 1 or more, not {request.shards}")
    if request.shards and request.shards > 1 and (request.warc_files or request.reextract):
        raise ConfigError("fan-out splits a crawl of the web by host: not a job of WARC files")
    if request.shard is not None and not request.job_id:
        raise ConfigError("a shard's run needs the job id")
    if request.warc_files and request.scope is not None:
        raise ConfigError("a job of WARC files follows no links: drop the crawl scope")
    if (
        not request.job_id
        and not request.resuming
        and not request.warc_files
        and not request.has_inputs()
    ):
        raise NoURLsError("no URLs given: pass urls, urls_file, or the id of an existing job")
