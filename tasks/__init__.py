"""Prefect tasks of the crawl flow: thin wrappers around quarrycore's plain functions."""
