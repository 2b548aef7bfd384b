"""Durable files: what makes a new or renamed file survive a power cut."""

from __future__ import annotations

import os
from pathlib import Path


def fsync_directory(directory: Path) -> None:
    """Flush ``directory``'s entries: a file created or renamed in it is durable only once
    its directory entry is on disk (the file's own fsync does not cover it)."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
