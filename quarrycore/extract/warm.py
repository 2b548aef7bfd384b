"""What every extraction process needs, imported once by the fork server the extraction
processes are forked from (quarrycore/extract/pool.py), so that they share it instead of
each loading its own copy: trafilatura, lxml and the MinHash code (through the extract
step's imports), py3langid's model (~75 MB, loaded by a first call: importing py3langid
does not load it) and spaCy's English tokenizer (~45 MB, the quality filters' word split)."""

from __future__ import annotations

import contextlib
import gc
import os
import sys


def _leave_the_process_group() -> None:
    """Put the fork server in a session of its own. It starts in its parent's process
    group, and a signal to that group (a Prefect worker cancelling a flow run sends
    SIGTERM to the run's process group) killed it and, through their parent-death
    signal, the extraction processes mid-page, while the flow process was still
    finishing its batches: a page of the batch became a failure. The server still exits
    when its parent does (its pipe from the parent closes), and the extraction processes
    with it. Only in the fork server (``python -c`` running multiprocessing's)."""
    if sys.argv[:1] == ["-c"] and "multiprocessing.forkserver" in sys.modules:
        with contextlib.suppress(OSError):  # already a group leader
            os.setsid()


_leave_the_process_group()  # first: the imports below take seconds

import quarrycore.extract.pool  # noqa: E402
import quarrycore.extract.step  # noqa: E402, F401  # trafilatura, lxml, datasketch
from quarrycore.extract.page import preload_language_model  # noqa: E402
from quarrycore.extract.wordsplit import preload  # noqa: E402

preload_language_model()
preload()

# Keep the garbage collector of each forked process off these objects: its passes write
# to every tracked object's header, copying the shared pages into each process.
gc.freeze()
