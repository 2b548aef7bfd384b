"""The fetch stage: an HTTP client with limits, politeness, robots.txt and an SSRF guard."""

from quarrycore.fetch.client import Fetcher

__all__ = ["Fetcher"]
