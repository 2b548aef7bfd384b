"""Nothing fetched is lost: every URL of a crawl of real pages (the shared article
benchmark, then a documentation site) ends stored, filtered (its document kept with the
verdict), duplicate (a pointer) or failed (and only those reach the dead letters), and the
exports give each kept or filtered page exactly once."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from quarrycore.deadletters import DeadLetterFilter, DeadLetterStore
from quarrycore.flows.crawl import quarry_crawl
from quarrycore.store import DocumentStore
from quarrycore.store.export import export_documents
from tests.support.docsite import docsite_pages
from tests.support.siteserver import Response, SiteServer

HTML = {"Content-Type": "text/html; charset=utf-8"}
VERDICTS = {"stored", "filtered", "duplicate", "failed"}


def _routes(pages: Mapping[str, bytes]) -> dict[str, Response]:
    routes = {f"/site/{name}": Response(200, body, HTML) for name, body in pages.items()}
    first, second = sorted(routes)[:2]
    routes["/copy/a"] = routes[first]  # the same page under other paths: duplicates
    routes["/copy/b"] = routes[second]
    return routes


async def _crawl_and_check(pages: Mapping[str, bytes], tmp_path: Path, name: str) -> None:
    db = f"sqlite:///{tmp_path / 'store.db'}"
    letters_url = f"sqlite:///{tmp_path / 'dead_letter.db'}"
    with SiteServer(_routes(pages)) as site:
        urls = [site.url(path) for path in site.routes] + [site.url("/missing/1")]
        result = await quarry_crawl(
            urls=urls,
            job_id=name,
            database_url=db,
            batch_size=50,
            options={
                "allow_private_networks": True,
                "per_host_delay": 0,
                "per_host_concurrency": 16,
                "data_dir": str(tmp_path / "data"),
                "dead_letter_url": letters_url,
                "quality": {"enabled": True},  # the defaults (the tests' own turn them off)
            },
        )
    store = DocumentStore(db)
    states = store.url_states(name)
    assert set(states) == set(urls) and result.state == "completed"
    assert {state for state, _ in states.values()} <= VERDICTS
    by_state = {v: {u for u, (s, _) in states.items() if s == v} for v in VERDICTS}
    assert result.processed_count == len(urls) == sum(len(us) for us in by_state.values())
    assert (result.stored_count, result.filtered_count, result.duplicate_count) == (
        len(by_state["stored"]),
        len(by_state["filtered"]),
        len(by_state["duplicate"]),
    )
    assert {site.url("/copy/a"), site.url("/copy/b")} <= by_state["duplicate"]
    assert site.url("/missing/1") in by_state["failed"]

    # Only failures are dead letters; filtered pages and duplicates are not.
    letters = DeadLetterStore(letters_url).rows(DeadLetterFilter(job_id=name))
    assert {row["url"] for row in letters} == by_state["failed"]

    exported: dict[str, list[dict[str, object]]] = {}
    for which in ("kept", "all", "filtered"):
        out = tmp_path / f"{which}.jsonl"
        export_documents(store, out, fmt="jsonl", job_id=name, which=which)
        exported[which] = [json.loads(line) for line in out.read_text().splitlines()]
    kept_urls = [str(row["url"]) for row in exported["kept"]]
    all_urls = [str(row["url"]) for row in exported["all"]]
    assert sorted(kept_urls) == sorted(by_state["stored"])
    assert sorted(all_urls) == sorted(by_state["stored"] | by_state["filtered"])  # each once
    assert all(row["quality_ok"] and row["filter"] is None for row in exported["kept"])
    for row in exported["filtered"]:
        assert row["quality_ok"] is False and row["filter"] and row["filter_reason"]
        assert states[str(row["url"])] == ("filtered", row["filter"])
    shares = {v: f"{len(by_state[v]) / len(urls):.1%}" for v in sorted(VERDICTS)}
    print(f"\n{name}: {len(urls)} URLs {shares}; filtered by {result.filtered_by}")


async def test_every_benchmark_page_gets_one_verdict(
    benchmark_pages: dict[str, tuple[bytes, str]], tmp_path: Path
) -> None:
    pages = {f"{name}.html": html for name, (html, _truth) in benchmark_pages.items()}
    await _crawl_and_check(pages, tmp_path, "benchmark-verdicts")


async def test_every_documentation_page_gets_one_verdict(tmp_path: Path) -> None:
    await _crawl_and_check(docsite_pages(limit=200), tmp_path, "docsite-verdicts")


async def test_quarry_refilter_moves_pages_without_a_request(tmp_path: Path) -> None:
    from tests.e2e.jobs import quarry_env, run_quarry
    from tests.support.siteserver import html_page

    def text(first: str) -> str:
        rest = " ".join(f"<p>Sentence {i} of a page about fruit.</p>" for i in range(40))
        return f"<p>{first}</p>{rest}"

    pages = {
        "/a": html_page("A", text("Apples grow in orchards.")),
        "/b": html_page("B", text("Lorem ipsum dolor sit amet.")),
    }
    db = f"sqlite:///{tmp_path / 'store.db'}"
    with SiteServer({p: Response(200, html, HTML) for p, html in pages.items()}) as site:
        await quarry_crawl(
            urls=[site.url(p) for p in pages],
            job_id="refilter",
            database_url=db,
            options={
                "allow_private_networks": True,
                "per_host_delay": 0,
                "extract_workers": 0,
                "data_dir": str(tmp_path / "data"),
                "quality": {"enabled": True, "filters": ["boilerplate"]},
            },
        )
        requests = sum(site.counts().values())
        env = {
            **quarry_env(tmp_path),
            "QUARRY_QUALITY__ENABLED": "1",
            "QUARRY_QUALITY__FILTERS": '["boilerplate"]',
            "QUARRY_QUALITY__BOILERPLATE_MARKERS": '["apples grow"]',
        }
        done = run_quarry(["refilter", "--job-id", "refilter", "--db", db], tmp_path, env)
        assert done.returncode == 0, done.stdout + done.stderr
        assert sum(site.counts().values()) == requests  # not one request more
    assert "1 kept -> filtered, 1 filtered -> kept" in " ".join(done.stdout.split())
    assert DocumentStore(db).url_states("refilter") == {
        site.url("/a"): ("filtered", "boilerplate"),
        site.url("/b"): ("stored", None),
    }


async def test_the_refilter_flow_judges_a_job_again(tmp_path: Path) -> None:
    from quarrycore.flows.refilter import quarry_refilter

    db = f"sqlite:///{tmp_path / 'store.db'}"
    page = "<p>Lorem ipsum dolor sit amet.</p>" + "".join(
        f"<p>Sentence {i} of a page about fruit.</p>" for i in range(40)
    )
    with SiteServer({"/b": Response(200, page.encode(), HTML)}) as site:
        options: dict[str, object] = {
            "allow_private_networks": True,
            "per_host_delay": 0,
            "extract_workers": 0,
            "data_dir": str(tmp_path / "data"),
            "quality": {"enabled": True, "filters": ["boilerplate"]},
        }
        await quarry_crawl(urls=[site.url("/b")], job_id="rf", database_url=db, options=options)
        assert DocumentStore(db).url_states("rf")[site.url("/b")] == ("filtered", "boilerplate")
        relaxed = {**options, "quality": {"enabled": True, "filters": ["word_count"]}}
        moved = await quarry_refilter(job_id="rf", database_url=db, options=relaxed)
        assert site.count("/b") == 1  # fetched by the crawl only
    assert moved == {
        "examined": 1,
        "to_filtered": 0,
        "to_stored": 1,
        "to_duplicate": 0,
        "refiltered": 0,
    }
    assert DocumentStore(db).url_states("rf")[site.url("/b")] == ("stored", None)
