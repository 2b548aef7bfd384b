"""``dead_letter.db``: every URL that finally failed, why, and when to try it again."""

from quarrycore.deadletters.schema import COLUMNS
from quarrycore.deadletters.store import DeadLetterFilter, DeadLetterStore, RetryPolicy

__all__ = ["COLUMNS", "DeadLetterFilter", "DeadLetterStore", "RetryPolicy"]
