"""Registering input WARC files: a registration killed after some chunks goes on from
the last committed offset (the file is never scanned from its start again); a finished
file is not scanned at all; each record is one pending URL pointing at its record."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from quarrycore.archive import inputs
from quarrycore.deadletters import DeadLetterStore
from quarrycore.pipeline import warcintake
from quarrycore.settings import QuarrySettings
from quarrycore.store import DocumentStore
from tests.support.warcfiles import write_warc


def test_registration_goes_on_from_the_last_committed_offset(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pages = {f"http://a.test/{i}": f"<html><body>{i}</body></html>".encode() for i in range(25)}
    path = str(write_warc(tmp_path / "in.warc.gz", pages).resolve())
    store = DocumentStore(f"sqlite:///{tmp_path / 'store.db'}")
    letters = DeadLetterStore(f"sqlite:///{tmp_path / 'dl.db'}")
    store.start_job("j", {})
    lease = store.lease("j", ttl=60)
    lease.acquire()
    settings = QuarrySettings()
    starts: list[int] = []
    real_scan = inputs.scan

    def counting_scan(path: str, start: int, **kw: object) -> Iterator[inputs.ScanChunk]:
        starts.append(start)
        return real_scan(path, start, drop_params=frozenset(), chunk=10)

    monkeypatch.setattr(warcintake, "scan", counting_scan)
    calls = {"n": 0}
    real_register = store.register_warc_records

    def dying_register(*args: object, **kw: object) -> int:
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt  # the process dies before the second chunk commits
        return real_register(*args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(store, "register_warc_records", dying_register)
    with pytest.raises(KeyboardInterrupt):
        warcintake.register_files(store, letters, "j", [path], settings, lease)
    assert store.counts("j").pending == 10
    offset, done = store.warc_progress("j", path)
    assert offset > 0 and not done

    monkeypatch.setattr(store, "register_warc_records", real_register)
    assert warcintake.register_files(store, letters, "j", [path], settings, lease) == 15
    assert starts == [0, offset]  # never from the start again
    assert warcintake.register_files(store, letters, "j", [path], settings, lease) == 0
    assert starts == [0, offset]  # a finished file is not scanned
    refs = {url: ref for url, (_, ref) in store.warc_records("j").items()}
    assert set(refs) == set(pages) and len({r.offset for r in refs.values() if r}) == 25
    lease.release()
    store.close()


def test_a_file_gzipped_as_a_whole_is_refused_with_the_fix(tmp_path: Path) -> None:
    import gzip

    plain = write_warc(tmp_path / "p.warc", {"http://a.test/1": b"<html>1</html>"}, gzip=False)
    whole = tmp_path / "whole.warc.gz"
    whole.write_bytes(gzip.compress(plain.read_bytes()))
    (chunk,) = inputs.scan(str(whole), 0, drop_params=frozenset())
    assert chunk.records == [] and chunk.done and chunk.torn_at == 0
    assert chunk.error is not None and "warcio recompress" in chunk.error
