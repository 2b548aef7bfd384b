"""Hostile pages through the extract step as the pipeline runs it: the real process pool
with a low ``extract_timeout``, the quality filters and near-dup signatures on, every
page in one batch.

Each page must end as a document or a named failure (an ``ExtractError`` or a quality
filter's ``Rejected``) within the limit plus a small margin; no exception may escape the
step; afterwards the pool (its killed processes replaced) still extracts a normal page
exactly as extraction in this process does. Pages given as bytes are decoded with
``decode_html``, as the fetcher does; the 50 MB page is also fetched, as the pipeline
would, against its own ``max_body_bytes``.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from multiprocessing.process import BaseProcess

import pytest

from quarrycore.exceptions import ExtractError, Rejected, URLFailure
from quarrycore.extract import pool as pool_module
from quarrycore.extract.options import ExtractOptions
from quarrycore.extract.pool import ExtractorPool, _Worker
from quarrycore.extract.step import extract_one
from quarrycore.fetch.charset import decode_html
from quarrycore.fetch.client import Fetcher
from quarrycore.pipeline.scope import CrawlScope
from quarrycore.pipeline.steps import Extract
from quarrycore.quality_settings import QualityThresholds
from quarrycore.records import Batch, Document, Failure, FetchedPage
from quarrycore.settings import QuarrySettings
from tests.support.siteserver import Response, SiteServer

LIMIT = 5.0  # extract_timeout here; a normal page takes ~15 ms
# Past the limit: pickling a 50 MB page into the pipe, killing and reaping the process,
# on a machine whose two cores are busy with other tests.
MARGIN = 3.0
BATCH_BOUND = 150.0  # the whole batch; a hang fails here, not at pytest's 600 s
MB = 1024 * 1024

SETTINGS = QuarrySettings(
    extract_workers=2,
    extract_timeout=LIMIT,
    # The pipeline's own defaults (tests/conftest.py turns the filters off for the
    # generated test sites): the filters and the near-dup signature run on every text.
    quality=QualityThresholds(),
    respect_robots=False,
)

# Distinct sentences (the quality filters keep it): ~130 words.
ARTICLE_TEXT = [
    "The harbour town woke slowly under a grey sky, and the fishing boats came back "
    "one after another with nets heavier than anyone had expected.",
    "Anna walked along the quay, counting crates of herring and writing the numbers "
    "in a notebook that her grandfather had bought in München decades ago.",
    "A visiting engineer explained how the new breakwater would change the currents, "
    "while two students translated his notes into 日本語 for their professor.",
    "By noon the market was full: bakers, carpenters and a violin maker argued about "
    "prices, weather and the football results from the previous evening.",
    "Later the rain stopped, gulls circled above the lighthouse, and the café on the "
    "corner served soup to everybody who had helped unload the boats.",
]
FIRST_SENTENCE = ARTICLE_TEXT[0][:40]
PARAGRAPHS = "".join(f"<p>{sentence}</p>" for sentence in ARTICLE_TEXT)


def article(body: str = PARAGRAPHS, *, charset: str = "utf-8", head: str = "") -> str:
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="{charset}">{head}'
        f"<title>Harbour morning</title></head><body><article><h1>Harbour morning</h1>{body}"
    )


def closed(html: str) -> str:
    return html + "</article></body></html>"


@dataclass(frozen=True, slots=True)
class Hostile:
    name: str
    html: str | None = None  # given to extraction as it is
    body: bytes | None = None  # decoded with decode_html first, as the fetcher does
    content_type: str = "text/html"
    keeps: str | None = None  # text the page's document must keep (None: no claim)

    def page(self) -> FetchedPage:
        if self.html is not None:
            html, encoding = self.html, "utf-8"
        else:
            assert self.body is not None
            html, encoding = decode_html(self.body, self.content_type)
        url = f"http://hostile.test/{self.name}"
        return FetchedPage(
            url=url,
            final_url=url,
            status_code=200,
            content_type="text/html",
            html=html,
            encoding=encoding,
            fetched_at=datetime.now(UTC),
        )


def deep(open_tags: str, close_tags: str, levels: int = 100_000) -> str:
    return closed(article(open_tags * levels + PARAGRAPHS + close_tags * levels))


def fifty_mb_of_markup() -> bytes:
    """A minified page: 50 MB of markup on one line (>100 s of extraction here)."""
    unit = "".join(f'<div class="c{i}"><p>{s}</p></div>' for i, s in enumerate(ARTICLE_TEXT))
    head = article("")
    return (head + unit * ((50 * MB - len(head)) // len(unit) + 1)).encode()


def hostile_pages(benchmark_article: bytes, fifty_mb: bytes) -> Iterator[Hostile]:
    whole = closed(article())
    # Truncated: cut mid-tag, mid-attribute, mid-comment, mid-script, mid-entity, mid-byte.
    yield Hostile("cut-mid-tag", article() + "<div cla", keeps=FIRST_SENTENCE)
    yield Hostile("cut-mid-tag-name", article() + "<sec", keeps=FIRST_SENTENCE)
    yield Hostile(
        "cut-mid-attribute", article() + '<a href="http://example.org/pa', keeps=FIRST_SENTENCE
    )
    yield Hostile("cut-mid-unquoted-attribute", article() + "<img src=/x.p", keeps=FIRST_SENTENCE)
    yield Hostile("cut-mid-comment", article() + "<!-- a comment th", keeps=FIRST_SENTENCE)
    yield Hostile("cut-mid-script", article() + '<script>var s = "never', keeps=FIRST_SENTENCE)
    yield Hostile("cut-mid-entity", article() + "<p>fish &amp chips &#x1F4", keeps=FIRST_SENTENCE)
    yield Hostile("cut-in-the-head", article()[:60])
    encoded = whole.encode()
    yield Hostile("cut-mid-utf8-sequence", body=encoded[: encoded.index("ü".encode()) + 1])
    # Random cuts and mutations of a real article (seeded): fuzzing in the small.
    rng = random.Random(20261129)
    for i in range(6):
        yield Hostile(f"benchmark-cut-{i}", body=benchmark_article[: rng.randrange(100, 60_000)])
    nasty = [b"<", b"\x00", b"<!--", b"<![CDATA[", b"<script>", b'"', b"\xff", b"</", b"&#"]
    for i in range(6):
        mutated = bytearray(benchmark_article)
        for _ in range(rng.randint(5, 40)):
            at = rng.randrange(len(mutated))
            mutated[at:at] = rng.choice(nasty) if rng.random() < 0.7 else rng.randbytes(9)
        yield Hostile(f"benchmark-mutated-{i}", body=bytes(mutated))
    # Deeply nested: libxml2 stops at depth 256 (no huge_tree); no recursion blows up.
    yield Hostile("div-100k-deep", deep("<div>", "</div>"))
    yield Hostile("div-100k-deep-unclosed", article("<div>" * 100_000 + PARAGRAPHS))
    yield Hostile("b-100k-deep", deep("<b>", "</b>"))
    yield Hostile("table-100k-deep", deep("<table><tr><td>", "</td></tr></table>"))
    # 50 MB on one line, given straight to extraction (the fetch refuses it: see below).
    yield Hostile("50mb-one-line-markup", fifty_mb.decode())
    yield Hostile("50mb-one-text-node", closed(article("<p>" + "word " * (10 * MB) + "</p>")))
    # NUL bytes in text, tag names, attribute names and values, comments.
    nul = "<p>Fish\x00market</p><di\x00v cl\x00ass='a\x00b'>x\x00y</di\x00v><!--\x00-->"
    yield Hostile("nul-in-text-and-tags", closed(article(PARAGRAPHS + nul)), keeps=FIRST_SENTENCE)
    yield Hostile("nul-in-the-body-bytes", body=closed(article(PARAGRAPHS + nul)).encode())
    # Invalid UTF-8 (lone continuation, overlong, surrogate, truncated, 0xff) declared UTF-8.
    bad = b"<p>bad \xc3\x28 \xa0\xa1 \xf0\x28\x8c\xbc \x80 \xc0\xaf \xed\xa0\x80 \xff end</p>"
    yield Hostile(
        "invalid-utf8",
        body=article().encode() + bad + b"</article></body></html>",
        content_type="text/html; charset=utf-8",
    )
    # Mixed encodings: a UTF-8 page with Latin-1 and Shift-JIS fragments.
    mixed = (
        article().encode()
        + "<p>Caf\u00e9 cr\u00e8me br\u00fbl\u00e9e</p>".encode("latin-1")
        + "<p>日本語のテキスト</p>".encode("shift_jis")
        + b"</article></body></html>"
    )
    yield Hostile("mixed-utf8-latin1-shiftjis", body=mixed)
    # <meta charset> (and header) lies about UTF-8 bytes ...
    for charset in ("utf-16", "iso-2022-jp", "x-no-such-charset", "utf-32", "utf-7"):
        yield Hostile(
            f"utf8-declared-{charset}",
            body=closed(article(charset=charset)).encode(),
            keeps="München",
        )
    # (the header wins and cp1252 decodes these bytes: mojibake, as in a browser)
    yield Hostile(
        "utf8-header-says-latin1", body=encoded, content_type="text/html; charset=iso-8859-1"
    )
    # ... and the other way round: UTF-8 declared, the bytes are something else.
    japanese = closed(article("<p>日本語のテキストです。</p>" * 50))
    german = closed(article("<p>Ein Café in München, größer als erwartet.</p>" * 50))
    for codec, text in [
        ("shift_jis", japanese),
        ("iso-2022-jp", japanese),
        ("utf-16-le", japanese),  # no BOM: the <meta> cannot even be read
        ("latin-1", german),
    ]:
        yield Hostile(
            f"{codec}-declared-utf8",
            body=text.encode(codec),
            content_type="text/html; charset=utf-8",
        )
    # Huge attribute values: libxml2 drops what follows a 10 MB attribute.
    yield Hostile("10mb-attribute", closed(article(f'<div data-x="{"a" * (10 * MB)}">x</div>')))
    yield Hostile("10mb-href", closed(article(PARAGRAPHS + f'<a href="/{"a" * (10 * MB)}">x</a>')))
    # Unterminated comment and CDATA (the article before them is kept).
    yield Hostile("unterminated-comment", article() + "<!-- " + PARAGRAPHS, keeps=FIRST_SENTENCE)
    yield Hostile("unterminated-cdata", article() + "<![CDATA[ " + PARAGRAPHS)
    yield Hostile("only-script", "<script>" + "var a = 1;" * 1000 + "</script>")
    yield Hostile("only-script-unclosed", "<script>" + "document.write('x');" * 1000)
    # 100,000 sibling links (out-links are normalised one by one).
    links = "".join(f'<a href="/p/{i}">link {i}</a>' for i in range(100_000))
    yield Hostile("100k-sibling-links", closed(article(PARAGRAPHS + links)))
    # A malformed <base href> or canonical link: urljoin raises on them (a defect that
    # failed the whole page as ExtractFailed; quarrycore/extract/page.py).
    yield Hostile(
        "malformed-base-and-canonical",
        closed(
            article(head='<base href="http://[::1/"><link rel="canonical" href="//[bad/x">')
            + '<a href="http://[also-bad/">x</a>'
        ),
        keeps=FIRST_SENTENCE,
    )
    yield Hostile("lone-surrogate", closed(article(PARAGRAPHS + "<p>lone \ud800 half</p>")))
    yield Hostile("empty", "")
    yield Hostile("whitespace-and-nul", " \x00 \n\t")


def _names(cls: type[URLFailure]) -> set[str]:
    subclasses: list[type[URLFailure]] = cls.__subclasses__()
    return {cls.__name__} | {name for sub in subclasses for name in _names(sub)}


# The named failures a page may end as: the extract stage's, or a quality filter's.
NAMED = (_names(ExtractError) - {"ExtractError"}) | (_names(Rejected) - {"Rejected"})


@pytest.fixture
def page_times(monkeypatch: pytest.MonkeyPatch) -> dict[str, float]:
    """Seconds each page spent in its extraction process: from the moment the process is
    ready (a fresh process's start-up, after a kill, is not the page's time) to the
    answer or the kill."""
    times: dict[str, float] = {}
    extract = _Worker.extract

    def timed(self: _Worker, page: FetchedPage, limit: float) -> Document | Failure:
        self._ready_connection()
        started = time.perf_counter()
        try:
            return extract(self, page, limit)
        finally:
            times[page.url] = time.perf_counter() - started

    monkeypatch.setattr(_Worker, "extract", timed)
    return times


def extraction_processes() -> list[BaseProcess]:
    return [p for p in multiprocessing.active_children() if p.name == "quarry-extract"]


@pytest.fixture
def no_thread_fallback(monkeypatch: pytest.MonkeyPatch) -> None:
    """When extraction processes cannot start, the pool extracts in a thread, without a
    time limit (quarrycore/extract/pool.py): a 50 MB page would then hold the test for
    minutes. Here such a page fails at once with a type no assertion accepts."""

    def in_a_thread(page: FetchedPage, options: ExtractOptions) -> Failure:
        return Failure(
            url=page.url,
            stage="extract",
            error_type="NotInAProcess",
            message="extraction processes failed to start; the pool fell back to a thread",
            retryable=False,
        )

    monkeypatch.setattr(pool_module, "_extract_here", in_a_thread)


def normal_batch(html: bytes, index: int) -> Batch:
    pages = [
        FetchedPage(
            url=f"http://normal.test/{index}/{i}",
            final_url=f"http://normal.test/{index}/{i}",
            status_code=200,
            content_type="text/html",
            html=html.decode("utf-8", "replace"),
            encoding="utf-8",
            fetched_at=datetime.now(UTC),
        )
        for i in range(2)
    ]
    return Batch.of("normal", index, [p.url for p in pages]).advance(pages)


def assert_extracted_as_here(given: Batch, out: Batch, options: ExtractOptions) -> None:
    """Each page came out of the pool a document, as extraction in this process makes it."""
    assert not out.failures, out.failures
    documents = {document.url: document for document in out.documents}
    assert len(documents) == len(given.pages) == 2
    for page in given.pages:
        assert documents[page.url] == extract_one(page, options)


@pytest.mark.usefixtures("no_thread_fallback")
async def test_hostile_pages_end_named_in_time_and_the_pool_survives(
    benchmark_pages: dict[str, tuple[bytes, str]], page_times: dict[str, float]
) -> None:
    started = time.perf_counter()
    normal, *others = [html for html, _ in benchmark_pages.values() if len(html) < 100_000]
    fifty = fifty_mb_of_markup()
    hostile = list(hostile_pages(others[0], fifty))

    # The 50 MB page as the pipeline would fetch it: refused at max_body_bytes, and a
    # page of exactly max_body_bytes on one line is fetched and goes to extraction.
    limit = SETTINGS.max_body_bytes
    at_limit = fifty[:limit]
    routes = {
        "/50mb": Response(200, fifty, {"Content-Type": "text/html"}),
        "/at-the-limit": Response(200, at_limit, {"Content-Type": "text/html"}),
    }
    with SiteServer(routes) as site:
        fetch_settings = SETTINGS.model_copy(update={"allow_private_networks": True})
        async with Fetcher(fetch_settings) as fetcher:
            too_large = await fetcher.fetch(site.url("/50mb"))
            fetched_at_limit = await fetcher.fetch(site.url("/at-the-limit"))
    assert isinstance(too_large, Failure) and too_large.error_type == "TooLarge", too_large
    assert isinstance(fetched_at_limit, FetchedPage), fetched_at_limit
    assert len(fetched_at_limit.html) > 0.9 * limit

    pages = [h.page() for h in hostile] + [fetched_at_limit]
    assert len({p.url for p in pages}) == len(pages)
    batch = Batch.of("hostile", 0, [p.url for p in pages]).advance(pages)
    # Links followed (depth 1): the documents' out-links go through the scope too.
    scope = CrawlScope(max_depth=1, seed_hosts=("hostile.test",))
    options = ExtractOptions.from_settings(SETTINGS)
    before, after = normal_batch(normal, 0), normal_batch(normal, 1)
    pool = ExtractorPool(
        workers=SETTINGS.extract_workers, options=options, page_timeout=SETTINGS.extract_timeout
    )
    try:
        # Both processes up before the hostile pages (so a process that cannot start is
        # told apart from one that a page killed).
        warm = await pool.extract(before)
        assert len(extraction_processes()) == 2
        batch_started = time.perf_counter()
        # Extract.run, not the step's __call__ (which turns an escaping exception into a
        # failure of every URL): any exception here fails the test.
        out = await asyncio.wait_for(Extract(pool, scope).run(batch), BATCH_BOUND)
        batch_seconds = time.perf_counter() - batch_started
        # The pool survives: a normal page (on both processes, one of them or both
        # replaced after kills) is extracted exactly as in this process.
        survived = await pool.extract(after)
        assert len(extraction_processes()) == 2
    finally:
        pool.close()
    assert extraction_processes() == []  # none left running after close

    report = []
    outcomes = {r.url: (r.failure or r.document) for r in out.records}
    for page in pages:
        outcome = outcomes[page.url]
        took = page_times.get(page.url, float("nan"))
        kind = outcome.error_type if isinstance(outcome, Failure) else "Document"
        report.append(f"{page.url.rsplit('/', 1)[1]:32} {took:6.2f} s  {kind}")
    summary = "\n".join(report) + f"\nbatch: {batch_seconds:.1f} s"
    print(summary)

    for page in pages:
        outcome = outcomes[page.url]
        assert outcome is not None, f"{page.url} has no outcome\n{summary}"
        if isinstance(outcome, Failure):
            assert outcome.error_type in NAMED, f"{page.url}: {outcome}\n{summary}"
            assert outcome.stage in ("extract", "filter") and outcome.message, outcome
        # Within the limit, plus the margin for pickling, killing and reaping.
        assert page.url in page_times, f"{page.url} never reached a process\n{summary}"
        assert page_times[page.url] <= LIMIT + MARGIN, f"{page.url}\n{summary}"

    by_name = {h.name: outcomes[h.page().url] for h in hostile}
    # The 50 MB of markup takes minutes: the limit, not the page, ended it.
    fifty_outcome = by_name["50mb-one-line-markup"]
    assert isinstance(fifty_outcome, Failure), summary
    assert fifty_outcome.error_type == "ExtractTimeout", summary
    assert f"over {LIMIT:g} s" in fifty_outcome.message
    # Pages with an article before the damage are extracted and keep it (a quality
    # filter may still reject the document: that is the filters' business).
    for h in hostile:
        if h.keeps is not None:
            outcome = by_name[h.name]
            assert isinstance(outcome, Document) or (
                isinstance(outcome, Failure) and outcome.stage == "filter"
            ), f"{h.name}: {outcome}\n{summary}"
            if isinstance(outcome, Document):
                assert h.keeps in outcome.text, f"{h.name}: {outcome.text[:300]!r}"

    assert_extracted_as_here(before, warm, options)
    assert_extracted_as_here(after, survived, options)
    print(f"whole test: {time.perf_counter() - started:.1f} s")
