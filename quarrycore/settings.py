"""Every knob of the pipeline in one typed model.

Each field is read from the environment as ``QUARRY_<NAME>`` (``QUARRY_BATCH_SIZE=50``),
and the command line and flow parameters override them. Limits and retry policy live
here as data, not as literals in the code that uses them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from quarrycore.credentials import mask_url, with_password
from quarrycore.exceptions import ConfigError
from quarrycore.quality_settings import QualityThresholds

# Defined here (not in urls.py) so settings import nothing of the pipeline.
TRACKING_PARAMS: frozenset[str] = frozenset(
    {
        "utm_source",
        "utm_medium",
        "utm_campaign",
        "utm_term",
        "utm_content",
        "utm_id",
        "fbclid",
        "gclid",
        "dclid",
        "gbraid",
        "wbraid",
        "msclkid",
        "yclid",
        "mc_cid",
        "mc_eid",
        "_ga",
        "_gl",
        "igshid",
        "ref_src",
    }
)

HTML_CONTENT_TYPES: frozenset[str] = frozenset({"text/html", "application/xhtml+xml"})


class QuarrySettings(BaseSettings):
    """Settings of one pipeline run; see the README for the table of defaults."""

    model_config = SettingsConfigDict(
        env_prefix="QUARRY_", env_nested_delimiter="__", extra="ignore", frozen=True
    )

    # Where things live.
    database_url: str = Field(
        "sqlite:///quarry.db", description="SQLAlchemy URL of the document store."
    )
    dead_letter_url: str = Field(
        "sqlite:///dead_letter.db", description="SQLAlchemy URL of the dead-letter database."
    )
    database_password: SecretStr | None = Field(
        None,
        description="Password put into a database_url that has none (QUARRY_DATABASE_PASSWORD):"
        " the flow's parameters then name the store without its secret.",
    )
    dead_letter_password: SecretStr | None = Field(
        None, description="The same for dead_letter_url (QUARRY_DEAD_LETTER_PASSWORD)."
    )
    dead_letter_backoff_base: float = Field(
        300.0, ge=0, description="Seconds to a transient dead letter's first retry time."
    )
    dead_letter_backoff_max: float = Field(
        86_400.0, ge=0, description="Cap on a dead letter's retry delay (s)."
    )
    data_dir: Path = Field(
        Path(".quarry"), description="Directory for Prefect task results and local state."
    )
    recrawl_after: float | None = Field(
        None,
        gt=0,
        description="Revisit policy: URLs done (stored, filtered, duplicate, failed, gone) "
        "longer ago than this are fetched again by the next run of the job; a duration "
        "('1d', '12h', '30m', '45s') or seconds. None: never (a rerun fetches nothing done).",
    )
    recrawl_changed_only: bool = Field(
        True,
        description="Revisits ask conditionally (If-None-Match / If-Modified-Since) and a "
        "page with the same text is unchanged, no new version; false: every revisit "
        "downloads the page and stores a version.",
    )
    warc: bool = Field(
        True,
        description="Archive every HTTP exchange of the crawl in WARC files under "
        "data_dir/warc/<job_id>/ (what re-extraction reads; off: nothing to re-extract).",
    )
    warc_max_bytes: int = Field(
        1_000_000_000, ge=1_000_000, description="A WARC file is closed past this size."
    )
    checkpoint_dir: Path = Field(Path("checkpoints"), description="Checkpoint file directory.")
    checkpoint_interval: float = Field(60.0, gt=0, description="Seconds between checkpoints.")
    checkpoint_inline_urls: int = Field(
        10_000, ge=0, description="Pending URLs listed in the checkpoint file, at most."
    )
    checkpoint_block: bool = Field(
        True, description="Mirror the checkpoint in a Prefect Block (resume on any worker)."
    )
    checkpoint_block_interval: float = Field(
        10.0, ge=0, description="Seconds between Block saves (the file is saved more often)."
    )
    checkpoint_block_inline_urls: int = Field(
        1_000, ge=0, description="Pending URLs listed in the Block, at most."
    )
    shutdown_grace: float = Field(
        30.0, ge=0, description="Seconds in-flight batches get to commit after a stop signal."
    )
    store_outage_wait: float = Field(
        600.0,
        ge=0,
        description="Seconds a run waits, retrying with backoff, for a store it cannot reach "
        "(its batch stays pending, nothing is marked failed); then it stops as interrupted.",
    )
    job_lock_ttl: float = Field(
        60.0, gt=0, description="Seconds after its last heartbeat that a job lock expires."
    )
    shard_poll_interval: float = Field(
        2.0,
        gt=0,
        description="A job fanned out: seconds between the parent run's looks at its shards' "
        "runs and leases (a dead worker's shard is started again at the next look).",
    )

    # Batching and concurrency.
    # 100 URLs a task: a task run costs ~7-11 ms client-side and the default server records
    # ~12 task runs/s (../shared/DESIGN.md); at ~8,000 pages/min a 100-URL batch takes
    # ~0.75 s, so the 3 task runs per batch cost < 5 % and 10k URLs make 300 task runs.
    batch_size: int = Field(100, gt=0, le=10_000, description="URLs per task run.")
    concurrency: int = Field(32, gt=0, le=1024, description="Requests in flight, all hosts.")
    per_host_concurrency: int = Field(2, gt=0, le=256, description="Requests in flight a host.")

    # HTTP limits.
    user_agent: str = Field(
        "QuarryCore/0.1 (+https://example.invalid/quarrycore; crawler contact)",
        description="User-Agent header sent with every request.",
    )
    connect_timeout: float = Field(10.0, gt=0, description="Seconds to open a connection.")
    read_timeout: float = Field(30.0, gt=0, description="Seconds to wait for each read.")
    max_redirects: int = Field(10, ge=0, le=50, description="Redirect hops followed.")
    fetch_deadline: float = Field(
        120.0,
        gt=0,
        description="Seconds one URL may spend in requests, redirects included (time queued "
        "for the host's turn does not count).",
    )
    max_body_bytes: int = Field(
        10 * 1024 * 1024, gt=0, description="Body size (decompressed) past which a page is cut."
    )

    # Safety: which addresses may be fetched at all.
    allow_private_networks: bool = Field(
        False, description="Allow private, loopback and link-local addresses (intranets, tests)."
    )
    private_network_allowlist: list[str] = Field(
        default_factory=list, description="Networks (CIDR) allowed even when private ones are not."
    )
    host_overrides: dict[str, str] = Field(
        default_factory=dict,
        description="host -> IP address, used instead of DNS (like /etc/hosts).",
    )

    # URL normalising.
    tracking_params: list[str] = Field(
        default_factory=lambda: sorted(TRACKING_PARAMS),
        description="Query parameters removed from every URL (empty list: keep all).",
    )

    # Politeness.
    max_hosts: int = Field(
        10_000,
        ge=1,
        description="Hosts whose politeness state and robots.txt are kept in memory; past "
        "it the least recently used idle ones are forgotten (and asked again if met).",
    )
    respect_robots: bool = Field(True, description="Fetch and obey robots.txt.")
    robots_ttl: float = Field(86_400.0, gt=0, description="Seconds a robots.txt stays cached.")
    per_host_delay: float = Field(
        1.0,
        ge=0,
        description="Seconds between request starts to one host (Crawl-delay wins if larger).",
    )
    breaker_failures: int = Field(
        5, ge=1, description="Consecutive failures of a host that pause it (circuit breaker)."
    )
    breaker_cooldown: float = Field(
        30.0, ge=0, description="Seconds a host is paused after tripping the breaker."
    )
    max_retry_after: float = Field(
        600.0, ge=0, description="Longest Retry-After pause honoured for a host (s)."
    )

    # Retries of one URL inside a batch (the batch is never thrown away for one URL).
    fetch_retries: int = Field(2, ge=0, le=20, description="Extra tries for a transient failure.")
    fetch_backoff_base: float = Field(0.5, ge=0, description="First per-URL retry delay (s).")
    fetch_backoff_max: float = Field(30.0, ge=0, description="Cap on a per-URL retry delay (s).")

    # Retries of a whole task run by Prefect, on transient errors only.
    task_retries: int = Field(2, ge=0, le=10, description="Prefect retries of a failed task.")
    task_retry_delay: float = Field(2.0, ge=0, description="First Prefect retry delay (s).")
    task_retry_jitter: float = Field(0.5, ge=0, description="Prefect retry jitter factor.")

    # Extraction.
    extract_workers: int = Field(
        default_factory=lambda: max(1, os.cpu_count() or 1),
        ge=0,
        description="Extraction processes; 0 extracts in a thread of the flow process.",
    )
    extract_timeout: float = Field(
        30.0,
        gt=0,
        description="Seconds one page may take to extract; then its process is killed and the "
        "page is a dead letter (ExtractTimeout). Needs extract_workers > 0. Extraction is "
        "linear in page size here: ~2 s per MB of HTML, so max_body_bytes of 10 MB is ~20 s.",
    )
    markdown: bool = Field(
        False,
        description="Also keep each document as Markdown (headings, lists, emphasis, tables) "
        "in the `markdown` column; `text` stays plain text.",
    )
    min_words: int = Field(1, ge=0, description="Pages with fewer extracted words are dropped.")
    keep_out_links: bool | None = Field(
        None,
        description="Keep each document's out-links (its normalised http(s) links, in the "
        "`out_links` column). None: only in a job that follows links, which needs them "
        "(finding them costs ~3 ms of a page's ~37 ms of extraction on news articles).",
    )

    quality: QualityThresholds = Field(
        default_factory=QualityThresholds,
        description="Quality filters and their thresholds (QUARRY_QUALITY__MIN_WORDS=...).",
    )

    persist_results: bool = Field(
        True, description="Persist Prefect task results under data_dir/results."
    )

    @field_validator("recrawl_after", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        return parse_duration(value) if isinstance(value, str) else value

    @model_validator(mode="before")
    @classmethod
    def _restore_passwords(cls, data: Any) -> Any:
        """A URL given without its password gets it from the ``*_password`` setting (the
        environment of the process that runs the flow)."""
        if not isinstance(data, dict):
            return data
        for url_field, secret_field in (
            ("database_url", "database_password"),
            ("dead_letter_url", "dead_letter_password"),
        ):
            secret = data.get(secret_field)
            url = data.get(url_field)
            if isinstance(url, str) and secret and not url.startswith("sqlite"):
                plain = secret.get_secret_value() if isinstance(secret, SecretStr) else secret
                data = {**data, url_field: with_password(url, str(plain))}
        return data

    def recorded(self) -> dict[str, Any]:
        """The settings as they may be persisted or shown: URLs masked, no secrets."""
        data = self.model_dump(mode="json", exclude={"database_password", "dead_letter_password"})
        data["database_url"] = mask_url(self.database_url)
        data["dead_letter_url"] = mask_url(self.dead_letter_url)
        return data

    @property
    def drop_params(self) -> frozenset[str]:
        return frozenset(p.lower() for p in self.tracking_params)

    @property
    def result_dir(self) -> Path:
        return self.data_dir / "results"

    @property
    def warc_dir(self) -> Path:
        """The WARC archive's root: a job's files are in its own directory below it."""
        return self.data_dir / "warc"


def settings_from_parameters(
    options: dict[str, Any] | None = None, **parameters: Any
) -> QuarrySettings:
    """The settings of a run: the environment (``QUARRY_*``), then ``options`` (any field by
    name), then the named parameters (a flow's or the CLI's); ``None`` means "not given".
    An invalid value is a :class:`~quarrycore.exceptions.ConfigError` naming the field."""
    named = {k: v for k, v in parameters.items() if v is not None}
    given = {k: v for k, v in {**(options or {}), **named}.items() if v is not None}
    try:
        return QuarrySettings(**given)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise ConfigError(f"invalid setting {where}: {first['msg']}") from exc


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}


def parse_duration(text: str) -> float:
    """Seconds of a duration written ``90s``, ``30m``, ``12h``, ``1d``, ``2w`` (or a plain
    number of seconds). Raises ``ValueError`` for anything else."""
    value = text.strip().lower()
    unit = _UNITS.get(value[-1:]) if value else None
    number = value[:-1] if unit else value
    try:
        seconds = float(number) * (unit or 1)
    except ValueError:
        raise ValueError(f"not a duration: {text!r} (e.g. 1d, 12h, 30m, 45s)") from None
    if seconds <= 0:
        raise ValueError(f"not a positive duration: {text!r}")
    return seconds
