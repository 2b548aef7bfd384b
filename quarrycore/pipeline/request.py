"""What a run is asked to do, and the checks of it that need no store.

One :class:`JobRequest` is built by the CLI and by the flow from their arguments;
:func:`check_request` is what both run first, so a bad request fails the same way, with
the same words, before any work (the CLI runs it before Prefect even starts).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from quarrycore.db import make_engine
from quarrycore.exceptions import ConfigError, NoURLsError, QuarryError
from quarrycore.jobid import validate_job_id
from quarrycore.pipeline.scope import CrawlScope
from quarrycore.settings import QuarrySettings
from quarrycore.urls import gather_inputs, host_of, normalize_url


@dataclass(frozen=True, slots=True, kw_only=True)
class ScopeRequest:
    """The bounds of a link-following crawl as asked (see :class:`CrawlScope`)."""

    max_depth: int = 0
    max_pages: int | None = None
    same_host: bool = True
    allow_domains: Sequence[str] = ()
    include: Sequence[str] = ()
    exclude: Sequence[str] = ()

    def scope(self, inputs: Sequence[str], *, drop_params: frozenset[str]) -> CrawlScope:
        """The scope, with the hosts of the valid ``inputs`` as the seed hosts."""
        hosts = []
        for raw in inputs:
            try:
                hosts.append(host_of(normalize_url(raw, drop_params=drop_params)))
            except QuarryError:
                continue
        return CrawlScope.from_json(
            {
                "max_depth": self.max_depth,
                "max_pages": self.max_pages,
                "same_host": self.same_host,
                "seed_hosts": sorted(set(hosts)),
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

    @property
    def resuming(self) -> bool:
        return self.resume or self.resume_from is not None


def check_request(request: JobRequest, settings: QuarrySettings) -> list[str]:
    """Check what can be checked without the store; return the raw inputs (seeds first,
    then ``urls``, then the file's). Raises a :class:`QuarryError` with the reason."""
    if request.job_id is not None:
        validate_job_id(request.job_id)
    make_engine(settings.database_url).dispose()  # a malformed URL or missing driver
    if request.resume and not request.job_id and not request.resume_from:
        raise ConfigError("resume needs the job id (or resume_from, a checkpoint file)")
    inputs = [*request.seeds, *gather_inputs(request.urls, request.urls_file)]
    if not inputs and not request.job_id and not request.resuming:
        raise NoURLsError("no URLs given: pass urls, urls_file, or the id of an existing job")
    return inputs
