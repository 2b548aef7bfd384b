"""QuarryCore: turn URLs into clean, deduplicated documents in a real database."""

__version__ = "0.1.0"
