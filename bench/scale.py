"""The scale run: one job of a million URLs through ``quarry crawl``, observed from outside.

    .venv/bin/python bench/scale.py --urls 1000000 --process 100000

nginx generates the pages (a ``return 200`` whose text names the URL: distinct small
pages, no files; near-duplicate detection is off, as every page shares the template's
words). A Prefect server is started first and not timed. The run:

1. ``quarry crawl --urls-file`` (SQLite store, 32 requests in flight): seconds until the
   job's URLs are registered (``jobs.url_count``), until the first batch is committed,
   and the PSS of the crawl's whole process tree sampled every second against the
   pages done; at ``--process`` pages done it gets SIGTERM (a clean stop: checkpoint).
2. ``quarry crawl --resume``: seconds until its first batch is committed, then SIGTERM.
Checkpoint save times of a 1M-URL job are ``bench/checkpoint.py``'s.
"""

from __future__ import annotations

import argparse
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from compare import BIN, _pss_by_process, _quarry_env, prefect_server
from nginx import Nginx

# ~70 words a page: above the Gopher minimum of 50, with the URL in the title and text.
_WORDS = (
    "This page is one of the generated pages of the scale run. It has a title, a "
    "heading and a paragraph of plain English text, long enough for the word count "
    "filter and short enough that a million of them stay small. Each page names its "
    "own address so that no two pages have the same text, and the crawler has to "
    "fetch, extract and store every one of them before the job is done."
)
LOCATION = (
    'location /p/ { default_type text/html; return 200 \'<!doctype html><html lang="en">'
    "<head><title>Page $uri</title></head><body><article><h1>Page $uri</h1><p>"
    + _WORDS
    + " This is $uri.</p></article></body></html>'; }"
)


def _count(db: Path, sql: str) -> int:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as conn:
            row = conn.execute(sql).fetchone()
    except sqlite3.Error:
        return 0
    return int(row[0] or 0) if row else 0


def _done(db: Path) -> int:
    return _count(db, "SELECT count(*) FROM documents")


@dataclass
class Crawl:
    registered_s: float | None
    first_commit_s: float | None
    seconds: float
    done: int
    exit: int
    pss: list[tuple[float, int, float]]  # (seconds, pages done, MB)
    at_tenth: dict[str, int]  # MB of each process when a tenth of the pages were done
    at_end: dict[str, int]
    tail: str


def crawl(command: list[str], env: dict[str, str], db: Path, urls: int, stop_at: int) -> Crawl:
    """Run one crawl until ``stop_at`` documents are in the store, then SIGTERM it (the
    clean stop: it exits by the same signal, -15, once the batches in flight are in)."""
    before = _done(db)  # a resume's first commit is the first document after these
    started = time.perf_counter()
    log = db.parent / f"crawl-{int(started)}.log"  # a file: a full pipe would block the crawl
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=db.parent
        )
    registered = first = None
    at_tenth: dict[str, int] = {}
    at_end: dict[str, int] = {}
    samples: list[tuple[float, int, float]] = []
    while process.poll() is None:
        now = time.perf_counter() - started
        if registered is None and _count(db, "SELECT max(url_count) FROM jobs") >= urls:
            registered = now
        done = _done(db)
        if first is None and done > before:
            first = now
        sizes = _pss_by_process(process.pid)
        samples.append((round(now, 1), done, round(sum(sizes.values()))))
        if done >= stop_at // 10 and not at_tenth:
            at_tenth = {name: round(mb) for name, mb in sizes.items()}
        at_end = {name: round(mb) for name, mb in sizes.items()}
        if done >= stop_at:
            process.send_signal(signal.SIGTERM)
            break
        time.sleep(1.0)
    process.wait(timeout=600)
    return Crawl(
        registered_s=registered,
        first_commit_s=first,
        seconds=time.perf_counter() - started,
        done=_done(db),
        exit=process.returncode,
        pss=samples,
        at_tenth=at_tenth,
        at_end=at_end,
        tail=log.read_text(errors="replace")[-2000:],
    )


def _pss_at(samples: list[tuple[float, int, float]], done: int) -> float | None:
    return next((pss for _, d, pss in samples if d >= done), None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--urls", type=int, default=1_000_000)
    parser.add_argument("--process", type=int, default=100_000, help="pages before the stop")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        nginx = Nginx(work, work / "nginx", locations=LOCATION)
        server, api = prefect_server(work)
        try:
            urls_file = work / "urls.txt"
            with urls_file.open("w") as out:
                for i in range(args.urls):
                    out.write(nginx.url(f"p/{i}") + "\n")
            env = {**_quarry_env(work, api), "QUARRY_QUALITY__NEAR_DEDUP": "0"}
            db = work / "store.db"
            base = [str(BIN / "quarry"), "crawl", "--db", f"sqlite:///{db}", "--no-progress"]
            base += ["--concurrency", "32", "--allow-private-networks"]
            first = crawl(
                [*base, "--urls-file", str(urls_file), "--job-id", "scale"],
                env,
                db,
                args.urls,
                args.process,
            )
            again = crawl([*base, "--resume", "scale"], env, db, args.urls, first.done + 1)
        finally:
            nginx.stop()
            server.terminate()
    print(f"{args.urls:,} URLs, stopped after {first.done:,} pages")
    print(f"registered after            {first.registered_s} s (process start included)")
    print(f"first batch committed after {first.first_commit_s} s")
    print(f"pages/min over the run      {60 * first.done / first.seconds:.0f}")
    tenth, full = _pss_at(first.pss, args.process // 10), _pss_at(first.pss, args.process)
    print(f"PSS at {args.process // 10:,} pages: {tenth} MB; at {args.process:,}: {full} MB")
    print(f"  by process at {args.process // 10:,}: {first.at_tenth}")
    print(f"  by process at the stop: {first.at_end}")
    print(f"stop: exit code {first.exit}")
    print(f"resume: first batch committed after {again.first_commit_s} s")
    print("PSS samples (s, pages, MB):", first.pss[:: max(1, len(first.pss) // 20)])
    for run in (first, again):
        if run.exit not in (0, 130, -15, 143):
            print(run.tail)


if __name__ == "__main__":
    main()
