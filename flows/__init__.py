"""Prefect flows of QuarryCore."""
