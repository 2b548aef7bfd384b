"""The raw archive: every HTTP exchange of a crawl in WARC 1.1 files, and reading the
responses back for re-extraction without fetching."""

from quarrycore.archive.reader import read_outcomes, read_page
from quarrycore.archive.writer import WarcArchive

__all__ = ["WarcArchive", "read_outcomes", "read_page"]
