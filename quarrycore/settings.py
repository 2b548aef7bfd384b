"""Every knob of the pipeline in one typed model.

Each field is read from the environment as ``QUARRY_<NAME>`` (``QUARRY_BATCH_SIZE=50``),
and the command line and flow parameters override them. Limits and retry policy live
here as data, not as literals in the code that uses them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from quarrycore.credentials import mask_url, with_password
from quarrycore.exceptions import ConfigError

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


FilterName = Literal[
    "word_count",
    "language",
    "boilerplate",
    "gopher_repetition",
    "gopher_quality",
    "c4",
    "fineweb_quality",
]

DEFAULT_FILTERS: tuple[FilterName, ...] = (
    "word_count",
    "language",
    "boilerplate",
    "gopher_repetition",
)

# Gopher's stop words (datatrove's STOP_WORDS): a document needs two of them.
GOPHER_STOP_WORDS = ["the", "be", "to", "of", "and", "that", "have", "with"]


class QualityThresholds(BaseModel):
    """Every threshold of the quality filters (``QUARRY_QUALITY__<NAME>``); the filters and
    their sources are in quarrycore/extract/filters.py. Defaults are datatrove 0.10's, the
    implementation FineWeb was built with. A Gopher limit of 0 turns its rule off, as there
    (an n-gram rule: leave its n out); FineWeb's limits are always compared, as there.
    """

    enabled: bool = Field(True, description="Run the quality filters at all.")
    filters: list[FilterName] = Field(
        default_factory=lambda: list(DEFAULT_FILTERS),
        description="The filters that run, in order. FineWeb's own: gopher_repetition, "
        'gopher_quality, c4, fineweb_quality (README, "Quality filters").',
    )
    languages: list[str] = Field(
        default_factory=list, description="Allowed language codes; empty: any language."
    )
    min_language_score: float = Field(0.65, ge=0, le=1, description="FineWeb: 0.65.")
    # QuarryCore's own boilerplate filter.
    boilerplate_markers: list[str] = Field(
        default_factory=lambda: ["lorem ipsum"], description="Pages with these are dropped."
    )
    cookie_wall_markers: list[str] = Field(
        default_factory=lambda: [
            "accept all cookies",
            "we use cookies",
            "cookie settings",
            "enable javascript",
            "javascript is disabled",
        ],
        description="Short pages with these are consent walls, not content.",
    )
    cookie_wall_max_words: int = Field(200, description="A cookie wall is shorter than this.")
    # Gopher repetition: Rae et al. 2021 table A1 = datatrove GopherRepetitionFilter.
    max_dup_paragraph_fraction: float = Field(
        0.30, ge=0, description="Gopher: paragraphs repeating an earlier one, at most 30 %."
    )
    max_dup_paragraph_char_fraction: float = Field(
        0.20, ge=0, description="Gopher: characters in repeated paragraphs, at most 20 %."
    )
    max_dup_line_fraction: float = Field(
        0.30, ge=0, description="Gopher: lines repeating an earlier one, at most 30 %."
    )
    max_dup_line_char_fraction: float = Field(
        0.20, ge=0, description="Gopher: characters in repeated lines, at most 20 %."
    )
    top_ngram_char_fractions: dict[int, float] = Field(
        default_factory=lambda: {2: 0.20, 3: 0.18, 4: 0.16},
        description="Gopher: n -> largest share of characters the top n-gram may cover.",
    )
    dup_ngram_char_fractions: dict[int, float] = Field(
        default_factory=lambda: {5: 0.15, 6: 0.14, 7: 0.13, 8: 0.12, 9: 0.11, 10: 0.10},
        description="Gopher: n -> largest share of characters in repeated n-grams.",
    )
    # Gopher quality: Rae et al. 2021 appendix A = datatrove GopherQualityFilter.
    min_words: int = Field(50, ge=0, description="Gopher: at least 50 words (not punctuation).")
    max_words: int = Field(100_000, ge=0, description="Gopher: at most 100,000 words.")
    min_avg_word_length: float = Field(3, ge=0, description="Gopher: mean word length ≥ 3.")
    max_avg_word_length: float = Field(10, ge=0, description="Gopher: mean word length ≤ 10.")
    max_symbol_word_ratio: float = Field(
        0.10, ge=0, description="Gopher: '#', and '...' or '…', each at most 0.1 per word."
    )
    max_bullet_lines_ratio: float = Field(
        0.90, ge=0, description="Gopher: lines starting with '•' or '-', at most 90 %."
    )
    max_ellipsis_lines_ratio: float = Field(
        0.30, ge=0, description="Gopher: lines ending in '...' or '…', at most 30 %."
    )
    min_alpha_words_ratio: float = Field(
        0.80, ge=0, description="Gopher: words with a letter, at least 80 %."
    )
    min_stop_words: int = Field(2, ge=0, description="Gopher: at least 2 of stop_words.")
    stop_words: list[str] = Field(
        default_factory=lambda: list(GOPHER_STOP_WORDS), description="Gopher's stop words."
    )
    # C4: Raffel et al. 2020 = datatrove C4QualityFilter, with FineWeb's options.
    c4_terminal_punct: bool = Field(
        False,
        description="C4: drop lines not ending in terminal punctuation (C4 did; FineWeb, "
        "whose option is our default, did not).",
    )
    c4_curly_bracket: bool = Field(True, description="C4: drop documents with a '{'.")
    c4_min_sentences: int = Field(
        5, ge=-1, description="C4: at least 5 sentences in the lines kept (-1: off)."
    )
    c4_min_words_per_line: int = Field(
        3, ge=-1, description="C4: lines of fewer words are not kept (-1: off)."
    )
    c4_max_word_length: int = Field(
        1000, ge=-1, description="C4: lines with a longer word are not kept (-1: off)."
    )
    # FineWeb: Penedo et al. 2024 = datatrove FineWebQualityFilter.
    fineweb_min_line_punct_ratio: float = Field(
        0.12, ge=0, description="FineWeb: lines ending in terminal punctuation, at least 12 %."
    )
    fineweb_max_short_line_ratio: float = Field(
        0.67, ge=0, description="FineWeb: short lines, at most 67 %."
    )
    fineweb_short_line_length: int = Field(
        30, ge=0, description="FineWeb: a line of at most 30 characters is short."
    )
    fineweb_max_dup_line_char_ratio: float = Field(
        0.01, ge=0, description="FineWeb: characters in repeated lines, at most 1 %."
    )
    fineweb_max_newline_word_ratio: float = Field(
        0.30, ge=0, description="FineWeb: newlines per word, at most 0.3."
    )
    near_dedup: bool = Field(True, description="Drop near-duplicates (MinHash LSH).")
    near_dup_threshold: float = Field(
        0.8, gt=0, le=1, description="Estimated Jaccard similarity of 5-grams that is a duplicate."
    )


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

    quality: QualityThresholds = Field(
        default_factory=QualityThresholds,
        description="Quality filters and their thresholds (QUARRY_QUALITY__MIN_WORDS=...).",
    )

    persist_results: bool = Field(
        True, description="Persist Prefect task results under data_dir/results."
    )

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
