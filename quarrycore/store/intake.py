"""Turning raw input into a job's pending URLs: validate, normalise, register."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from quarrycore.exceptions import InvalidURL
from quarrycore.records import Failure
from quarrycore.store.documentstore import DocumentStore
from quarrycore.urls import normalize_url


@dataclass(frozen=True, slots=True)
class Intake:
    valid: list[str]
    invalid: list[Failure]


def validate_inputs(raw_urls: Iterable[str], *, drop_params: frozenset[str]) -> Intake:
    """Normalise each input; a malformed one becomes a ``validate`` failure, not a crash."""
    valid: dict[str, None] = {}
    invalid: dict[str, Failure] = {}
    for raw in raw_urls:
        try:
            valid.setdefault(normalize_url(raw, drop_params=drop_params), None)
        except InvalidURL as exc:
            key = raw.strip() or "(empty)"
            invalid.setdefault(key, Failure.from_error(key, exc))
    return Intake(valid=list(valid), invalid=list(invalid.values()))


def register_inputs(
    store: DocumentStore,
    job_id: str,
    raw_urls: Iterable[str],
    *,
    drop_params: frozenset[str],
) -> Intake:
    """Validate the inputs and register them with the job (invalid ones as failed)."""
    intake = validate_inputs(raw_urls, drop_params=drop_params)
    store.add_urls(job_id, intake.valid, invalid=intake.invalid)
    return intake
