"""The document store: jobs, their URLs and the stored documents, in one SQL database."""

from quarrycore.store.documentstore import DocumentStore
from quarrycore.store.frontier import JobCounts
from quarrycore.store.jobs import JobLock

__all__ = ["DocumentStore", "JobCounts", "JobLock"]
