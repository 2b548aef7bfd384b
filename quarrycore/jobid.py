"""Job ids: generated, validated, safe to use as file names."""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime

from quarrycore.exceptions import InvalidJobId

_JOB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def new_job_id() -> str:
    return f"job-{datetime.now(UTC):%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"


def validate_job_id(job_id: str) -> str:
    if not _JOB_ID.fullmatch(job_id) or ".." in job_id:
        raise InvalidJobId(
            f"invalid job id {job_id!r}: use 1-128 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return job_id
