"""What every extraction process needs, imported once by the fork server the extraction
processes are forked from (quarrycore/extract/pool.py), so that they share it instead of
each loading its own copy: trafilatura, lxml and the MinHash code (through the pool's
own imports), py3langid's model (~70 MB) and spaCy's English tokenizer (~45 MB, the
quality filters' word split)."""

from __future__ import annotations

import gc

import py3langid  # noqa: F401  # loads its model on import

import quarrycore.extract.pool  # noqa: F401
from quarrycore.extract.wordsplit import preload

preload()

# Keep the garbage collector of each forked process off these objects: its passes write
# to every tracked object's header, copying the shared pages into each process.
gc.freeze()
