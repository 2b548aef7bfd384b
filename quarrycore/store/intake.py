"""Turning raw input into a job's pending URLs: validate, normalise, register.

Inputs are streamed: a file of a million URLs is read, normalised and registered a chunk
at a time (each chunk its own transaction), so memory does not grow with the input. A run
stopped between chunks (``kill -9`` too) leaves the job marked (:class:`IntakeMarker`)
with the files it was reading, so the next run registers the rest, not only what was in.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from quarrycore.credentials import mask_url
from quarrycore.exceptions import InvalidURL
from quarrycore.records import Failure
from quarrycore.store import jobs
from quarrycore.store.documentstore import DocumentStore
from quarrycore.urls import normalize_url

CHUNK = 100_000  # inputs a transaction


@dataclass(frozen=True, slots=True)
class Intake:
    valid: list[str]
    invalid: list[Failure]


@dataclass(slots=True)
class IntakeCounts:
    """What registering a stream of inputs did."""

    inputs: int = 0
    invalid: int = 0
    added: int = 0  # URLs new to the job (invalid inputs included, as failed rows)
    complete: bool = True  # False: stopped before the end of the inputs


class IntakeMarker:
    """The job's marker of a registration of its inputs under way (``jobs`` table)."""

    def __init__(self, store: DocumentStore, job_id: str) -> None:
        self.store = store
        self.job_id = job_id

    def unfinished(self) -> list[str] | None:
        """The files of a registration a run left unfinished (``[]``: inputs given
        inline), else ``None``."""
        with self.store.engine.connect() as conn:
            return jobs.unfinished_intake(conn, self.job_id)

    def begin(self, files: list[str]) -> None:
        with self.store.engine.begin() as conn:
            jobs.mark_intake(conn, self.job_id, files)

    def end(self) -> None:
        with self.store.engine.begin() as conn:
            jobs.mark_intake(conn, self.job_id, None)


def validate_inputs(raw_urls: Iterable[str], *, drop_params: frozenset[str]) -> Intake:
    """Normalise each input; a malformed one becomes a ``validate`` failure, not a crash."""
    valid: dict[str, None] = {}
    invalid: dict[str, Failure] = {}
    for raw in raw_urls:
        try:
            valid.setdefault(normalize_url(raw, drop_params=drop_params), None)
        except InvalidURL as exc:
            # A malformed URL is kept as given, but never with its password.
            key = mask_url(raw.strip(), query=False) or "(empty)"
            invalid.setdefault(key, Failure.from_error(key, exc))
    return Intake(valid=list(valid), invalid=list(invalid.values()))


def register_inputs(
    store: DocumentStore,
    job_id: str,
    raw_urls: Iterable[str],
    *,
    drop_params: frozenset[str],
    limit: int | None = None,
    on_invalid: Callable[[list[Failure]], None] = lambda failures: None,
    on_chunk: Callable[[IntakeCounts], None] = lambda counts: None,
    should_stop: Callable[[], bool] = lambda: False,
) -> IntakeCounts:
    """Validate the inputs and register them with the job, a chunk at a time: valid ones
    pending, invalid ones failed at stage ``validate`` (and passed to ``on_invalid``, to
    be dead-lettered), at most ``limit`` URLs in the job (its ``max_pages``). After each
    chunk, ``on_chunk`` is given the counts so far; ``should_stop`` is asked before each
    (then the counts say not ``complete``)."""
    counts = IntakeCounts()
    inputs = iter(raw_urls)
    while True:
        if should_stop():
            counts.complete = next(inputs, None) is None
            return counts
        chunk = list(itertools.islice(inputs, CHUNK))
        if not chunk:
            return counts
        intake = validate_inputs(chunk, drop_params=drop_params)
        counts.inputs += len(chunk)
        counts.invalid += len(intake.invalid)
        counts.added += store.add_urls(job_id, intake.valid, invalid=intake.invalid, limit=limit)
        if intake.invalid:
            on_invalid(intake.invalid)
        on_chunk(counts)
