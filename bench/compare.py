"""QuarryCore against what users would otherwise pick, on the same URLs in the same run.

A real documentation site (Debian's python3.11-doc, ~530 pages; tests/support/docsite.py)
repeated under ``--prefixes`` path prefixes, served by nginx on 127.0.0.1 (bench/nginx.py).
Engines, each ``--runs`` times (the median is printed):

  quarry      `quarry crawl` end to end, against a running Prefect server
  core        the same fetch/extract/store code without Prefect (JobStages + run_job)
  scrapy      a Scrapy spider with trafilatura.extract in its callback, JSON lines
              (Scrapy in the benchmark's own environment, .cache/bench-venv)
  sequential  a plain loop: httpx GET, trafilatura.extract, JSON lines

For each: pages/min, host CPU ms per page (/proc/stat over the run: every process on
the machine, the Prefect server included), peak PSS of the engine's process tree.
Politeness is off for our own server (no per-host delay, 32 requests in flight).

    .venv/bin/python bench/compare.py --prefixes 6 --runs 3
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).parent))
VENV = ROOT / ".cache" / "bench-venv"
BIN = Path(sys.executable).parent
ENGINES = ("quarry", "core", "scrapy", "sequential")
CONCURRENCY = 32


# -- measuring ---------------------------------------------------------------------------


def _jiffies() -> int:
    """Busy jiffies of the whole host since boot (every core)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return sum(fields) - fields[3] - fields[4]  # minus idle and iowait


def _stat(pid: int) -> list[str]:
    """The fields of ``/proc/PID/stat`` after the command name (state, ppid, ...)."""
    return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()


def _tree(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int(_stat(int(entry.name))[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [pid], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


_ROLES = {
    "multiprocessing.resource_tracker": "resource tracker",
    "multiprocessing.forkserver": "fork server",
}


def _command(pid: int) -> str:
    """A process's command line, its arguments separated by NUL ("": it has gone)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return ""


def _name(pid: int) -> str:
    """A process's short name: its role (the fork server, an extraction process it
    forked), else its program and first arguments (``python -m x``)."""
    command = _command(pid)
    try:
        ppid = int(_stat(pid)[1])
    except (OSError, IndexError, ValueError):
        return "?"
    if not command:
        return "?"
    for marker, role in _ROLES.items():
        if marker in command:
            if role == "fork server" and marker in _command(ppid):
                return "extraction"  # forked by the fork server
            return role
    argv = command.split("\0")
    words = [Path(argv[0]).name, *(a for a in argv[1:4] if a and not a.startswith("/"))]
    return " ".join(words)[:60]


def _pss_by_process(
    pid: int, members: list[int] | None = None, names: dict[int, str] | None = None
) -> dict[str, float]:
    """PSS in MB of each process of ``pid``'s tree (or of ``members``), by ``pid: name``
    (names looked up once, in ``names``)."""
    names = {} if names is None else names
    sizes: dict[str, float] = {}
    for member in _tree(pid) if members is None else members:
        try:
            for line in Path(f"/proc/{member}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    if member not in names:
                        names[member] = _name(member)
                    sizes[f"{member}: {names[member]}"] = int(line.split()[1]) / 1024
        except OSError:
            continue
    return sizes


def _cpu_ticks(pid: int) -> int:
    """User + system CPU of one process so far, in clock ticks (1/100 s)."""
    try:
        fields = _stat(pid)
    except OSError:
        return 0
    return int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)


def _tree_ticks(pid: int) -> int:
    return sum(_cpu_ticks(member) for member in _tree(pid))


def measure(
    command: list[str], env: dict[str, str], cwd: Path, *, server_pid: int | None = None
) -> dict[str, Any]:
    """Run ``command``; wall seconds, busy CPU ms of the host, peak PSS of its tree, and
    the CPU of each process of the tree and of the Prefect server (``server_pid``)."""
    server_before = _tree_ticks(server_pid) if server_pid else 0
    busy = _jiffies()
    started = time.perf_counter()
    process = subprocess.Popen(
        command, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    peak = 0.0
    at_peak: dict[str, float] = {}
    ticks: dict[int, int] = {}  # the last CPU seen of each process of the tree
    names: dict[int, str] = {}

    def sample() -> None:
        nonlocal peak, at_peak
        while process.poll() is None:
            members = _tree(process.pid)  # one walk of /proc a sample
            sizes = _pss_by_process(process.pid, members, names)
            if sum(sizes.values()) > peak:
                peak, at_peak = sum(sizes.values()), sizes
            for member in members:
                if member not in names:
                    names[member] = _name(member)
                ticks[member] = _cpu_ticks(member) or ticks.get(member, 0)
            time.sleep(0.25)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    output, _ = process.communicate()
    seconds = time.perf_counter() - started
    cpu_ms = (_jiffies() - busy) * 10.0
    server_ms = (_tree_ticks(server_pid) - server_before) * 10.0 if server_pid else 0.0
    sampler.join()
    if process.returncode != 0:
        raise SystemExit(f"{command[:3]} failed ({process.returncode}):\n{output.decode()[-3000:]}")
    return {
        "seconds": seconds,
        "cpu_ms": cpu_ms,
        "pss_mb": peak,
        "pss_at_peak": {name: round(mb, 1) for name, mb in at_peak.items()},
        # Up to its last sample (a process's last 0.25 s may be missed).
        "cpu_s_by_process": {f"{pid}: {names[pid]}": t / 100 for pid, t in ticks.items() if t},
        "prefect_server_cpu_s": server_ms / 1000,
    }


# -- the engines -------------------------------------------------------------------------


def _quarry_env(work: Path, api_url: str) -> dict[str, str]:
    return {
        **os.environ,
        "PREFECT_API_URL": api_url,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "QUARRY_CHECKPOINT_DIR": str(work / "checkpoints"),
        "QUARRY_DATA_DIR": str(work / "data"),
        "QUARRY_DEAD_LETTER_URL": f"sqlite:///{work / 'dead_letter.db'}",
        "QUARRY_PER_HOST_DELAY": "0",
        "QUARRY_PER_HOST_CONCURRENCY": str(CONCURRENCY),
        "QUARRY_ALLOW_PRIVATE_NETWORKS": "1",
    }


def _count_store(db: str) -> int:
    """Pages fetched and extracted: stored, filtered or duplicate (not failed)."""
    from quarrycore.store import DocumentStore

    store = DocumentStore(db)
    try:
        counts = [store.counts(job) for job in store.job_ids()]
        return sum(c.stored + c.filtered + c.duplicate for c in counts)
    finally:
        store.close()


def _count_lines(path: Path) -> int:
    """Pages fetched (200) and extracted, of a JSON-lines output."""
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    assert all("url" in row and "text" in row for row in rows), f"{path}: malformed rows"
    return sum(1 for row in rows if row.get("status") == 200)


def run_engine(
    name: str, urls_file: Path, work: Path, api_url: str, server_pid: int | None = None
) -> tuple[dict[str, Any], int]:
    """One run of one engine in ``work``; its measures and the pages it turned out."""
    work.mkdir(parents=True)
    env = _quarry_env(work, api_url)
    db = f"sqlite:///{work / 'store.db'}"
    out = work / "out.jsonl"
    if name == "quarry":
        command = [str(BIN / "quarry"), "crawl", "--urls-file", str(urls_file), "--db", db]
        command += ["--job-id", "bench", "--concurrency", str(CONCURRENCY), "--no-progress"]
        command += ["--allow-private-networks"]
    elif name == "core":
        command = [sys.executable, str(Path(__file__)), "--core", str(urls_file), db]
    elif name == "scrapy":
        command = [
            str(VENV / "bin" / "scrapy"),
            "runspider",
            str(ROOT / "bench" / "scrapy_spider.py"),
        ]
        command += ["-a", f"urls_file={urls_file}", "-O", str(out)]
        for setting in (
            f"CONCURRENT_REQUESTS={CONCURRENCY}",
            f"CONCURRENT_REQUESTS_PER_DOMAIN={CONCURRENCY}",
            "ROBOTSTXT_OBEY=False",
            "LOG_LEVEL=WARNING",
            "TELNETCONSOLE_ENABLED=False",
        ):
            command += ["-s", setting]
    else:
        command = [sys.executable, str(Path(__file__)), "--sequential", str(urls_file), str(out)]
    measured = measure(command, env, work, server_pid=server_pid)
    pages = _count_store(db) if name in ("quarry", "core") else _count_lines(out)
    return measured, pages


def _core(urls_file: str, db: str) -> None:
    """Engine ``core``: the job through the plain pipeline, no Prefect imported."""
    from quarrycore.pipeline.job import finish_job, open_job
    from quarrycore.pipeline.request import JobRequest
    from quarrycore.pipeline.runner import JobStages, run_job
    from quarrycore.records import BatchReport
    from quarrycore.settings import settings_from_parameters

    async def main() -> None:
        settings = settings_from_parameters(database_url=db, concurrency=CONCURRENCY)
        job = await open_job(JobRequest(urls_file=urls_file, job_id="bench"), settings)

        async def on_done(report: BatchReport) -> None:
            await job.checkpointer.save_if_cheap()

        try:
            async with JobStages(job) as stages:
                signals = await run_job(job, stages.pipeline(), on_done=on_done)
            await finish_job(job, stop_requested=signals.stop_requested)
        finally:
            job.close()

    asyncio.run(main())


def _sequential(urls_file: str, out: str) -> None:
    """Engine ``sequential``: GET, extract, write a line; one page at a time."""
    import httpx
    import trafilatura

    with httpx.Client(timeout=30) as client, open(out, "w", encoding="utf-8") as handle:
        for line in Path(urls_file).read_text().splitlines():
            if not line.strip():
                continue
            response = client.get(line.strip())
            text = trafilatura.extract(response.text, url=line.strip()) or ""
            handle.write(
                json.dumps({"url": line.strip(), "status": response.status_code, "text": text})
                + "\n"
            )


# -- set-up ------------------------------------------------------------------------------


def bench_venv() -> None:
    """Scrapy (and the trafilatura version QuarryCore runs) in an environment of its own."""
    import trafilatura

    if (VENV / "bin" / "scrapy").exists():
        return
    subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    pip = [str(VENV / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    subprocess.run(
        [*pip, "scrapy>=2.11", f"trafilatura=={trafilatura.__version__}", "lxml_html_clean"],
        check=True,
    )


def site(work: Path, prefixes: int, pages: int | None) -> tuple[Path, list[str]]:
    """The documentation tree under ``prefixes`` prefixes; its pages' paths."""
    from tests.support.docsite import DocSiteUnavailable, docsite_root

    try:
        tree = docsite_root()
    except DocSiteUnavailable as exc:
        raise SystemExit(f"no documentation site: {exc}") from exc
    files = sorted(str(f.relative_to(tree)) for f in tree.rglob("*.html"))
    root = work / "site"
    root.mkdir()
    for k in range(prefixes):
        (root / f"v{k}").symlink_to(tree)
    paths = [f"v{k}/{f}" for k in range(prefixes) for f in files]
    return root, paths[:pages] if pages else paths


def prefect_server(work: Path) -> tuple[subprocess.Popen[bytes], str]:
    import httpx

    from tests.e2e.prefect_server import free_port

    port = free_port()
    env = {
        **os.environ,
        "PREFECT_HOME": str(work / "prefect"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    }
    server = subprocess.Popen(
        [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    api = f"http://127.0.0.1:{port}/api"
    deadline = time.monotonic() + 180
    while True:
        try:
            if httpx.get(f"{api}/health", timeout=2).status_code == 200:
                return server, api
        except httpx.HTTPError:
            pass
        if server.poll() is not None or time.monotonic() > deadline:
            raise SystemExit("the Prefect server did not start")
        time.sleep(0.5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prefixes", type=int, default=6, help="copies of the site")
    parser.add_argument("--pages", type=int, default=None, help="at most this many URLs")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--engines", default=",".join(ENGINES))
    parser.add_argument("--json", type=Path, default=None, help="write the results here too")
    parser.add_argument("--core", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--sequential", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.core:
        return _core(*args.core)
    if args.sequential:
        return _sequential(*args.sequential)

    from nginx import Nginx  # bench/nginx.py, beside this script

    engines = [e for e in args.engines.split(",") if e]
    if "scrapy" in engines:
        bench_venv()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        root, paths = site(work, args.prefixes, args.pages)
        nginx = Nginx(root, work / "nginx")
        server, api = prefect_server(work)
        try:
            urls_file = work / "urls.txt"
            urls_file.write_text("\n".join(nginx.url(p) for p in paths) + "\n")
            results: dict[str, list[dict[str, Any]]] = {e: [] for e in engines}
            for run in range(args.runs):
                for engine in engines:  # interleaved: a noisy minute hurts every engine
                    measured, pages = run_engine(
                        engine, urls_file, work / f"{engine}-{run}", api, server.pid
                    )
                    measured["pages"] = pages
                    results[engine].append(measured)
                    print(
                        f"run {run + 1} {engine}: {pages} pages in {measured['seconds']:.1f} s",
                        flush=True,
                    )
        finally:
            nginx.stop()
            server.terminate()
    report(len(paths), results, args.json)


def report(urls: int, results: dict[str, list[dict[str, Any]]], out: Path | None) -> None:
    def median(engine: str, key: Callable[[dict[str, Any]], float]) -> float:
        return statistics.median(key(r) for r in results[engine])

    rows: dict[str, dict[str, Any]] = {}
    for engine in results:
        rows[engine] = {
            "pages": median(engine, lambda r: r["pages"]),
            "pages_min": median(engine, lambda r: r["pages"] / r["seconds"] * 60),
            "cpu_ms_page": median(engine, lambda r: r["cpu_ms"] / max(1, r["pages"])),
            "pss_mb": median(engine, lambda r: r["pss_mb"]),
            "runs": results[engine],
        }
    base = rows.get("scrapy")
    print(f"\n{urls} URLs; median of {len(next(iter(results.values())))} runs")
    header = ("engine", "pages", "pages/min", "CPU ms/page", "peak PSS MB", "vs scrapy")
    print("{:<11} {:>6} {:>10} {:>12} {:>12} {:>10}".format(*header))
    for engine, row in rows.items():
        ratio = f"{row['pages_min'] / base['pages_min']:.2f}x" if base else "-"
        print(
            f"{engine:<11} {row['pages']:6.0f} {row['pages_min']:10.0f} {row['cpu_ms_page']:12.1f} "
            f"{row['pss_mb']:12.0f} {ratio:>10}"
        )
    if base and "quarry" in rows:
        q = rows["quarry"]
        print(f"quarry CPU/page vs scrapy: {q['cpu_ms_page'] / base['cpu_ms_page']:.2f}x")
    if "quarry" in rows and "core" in rows:
        share = rows["quarry"]["pages_min"] / rows["core"]["pages_min"]
        print(f"Prefect's share: quarry at {share:.2f}x of core")
    for engine in ("quarry", "core"):
        if engine in results:  # where the peak was, in the last run
            sizes = results[engine][-1]["pss_at_peak"]
            print(
                f"{engine} at its peak PSS: "
                + ", ".join(f"{n} {mb:.0f} MB" for n, mb in sizes.items())
            )
    for engine in ("quarry", "core"):
        if engine in results:  # where the CPU went, in the last run
            last = results[engine][-1]
            by_process = last.get("cpu_s_by_process", {})
            server_s = last.get("prefect_server_cpu_s", 0.0)
            rest = last["cpu_ms"] / 1000 - sum(by_process.values()) - server_s
            print(
                f"{engine} CPU s by process: "
                + ", ".join(f"{n} {s:.1f}" for n, s in by_process.items())
                + f"; Prefect server {server_s:.1f}; rest of the host {rest:.1f}"
            )
    if out is not None:
        out.write_text(json.dumps({"urls": urls, "engines": rows}, indent=1))


if __name__ == "__main__":
    main()
