"""The ``quarry`` command line: parses arguments, calls the flows and the core, prints."""

from quarrycore.cli.app import app

__all__ = ["app"]
