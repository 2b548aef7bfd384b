"""Extraction on real benchmark pages and on edge cases (no Prefect)."""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import UTC, datetime

import pytest

from quarrycore.extract.options import ExtractOptions
from quarrycore.extract.page import extract_page, out_links
from quarrycore.extract.pool import ExtractorPool
from quarrycore.records import Batch, Document, Failure, FetchedPage
from quarrycore.settings import TRACKING_PARAMS
from quarrycore.text import content_hash, normalize_text


def fetched(html: str, url: str = "http://127.0.0.1:8000/a/page.html") -> FetchedPage:
    return FetchedPage(
        url=url,
        final_url=url,
        status_code=200,
        content_type="text/html",
        html=html,
        encoding="utf-8",
        fetched_at=datetime.now(UTC),
    )


def fetched_batch(pages: list[FetchedPage], job_id: str = "j") -> Batch:
    """A batch whose URLs were fetched as ``pages``."""
    return Batch.of(job_id, 0, [page.url for page in pages]).advance(pages)


OPTIONS = ExtractOptions(drop=TRACKING_PARAMS)


def _words(text: str) -> set[str]:
    return set(re.findall(r"\w+", text.lower()))


def test_benchmark_pages_yield_their_article_text(
    benchmark_with_truth: dict[str, tuple[bytes, str]],
) -> None:
    checked = 0
    for html, truth in list(benchmark_with_truth.values())[:15]:
        if not truth:
            continue
        result = extract_page(fetched(html.decode("utf-8", "replace")), drop=TRACKING_PARAMS)
        assert isinstance(result, Document)
        # Most of the ground truth's words are in the extracted text.
        overlap = len(_words(truth) & _words(result.text)) / len(_words(truth))
        assert overlap > 0.8, overlap
        assert result.title and result.word_count > 50 and result.language
        checked += 1
    assert checked >= 10


def test_metadata_links_and_canonical() -> None:
    html = """<html lang="de-AT"><head><title>Titel</title>
    <link rel="canonical" href="/kanon?b=2&a=1#x"><meta name="author" content="Anna Autorin">
    <meta name="description" content="Eine Beschreibung"></head><body><article>
    <h1>Titel</h1><p>Dies ist ein ausreichend langer deutscher Absatz über das Wetter in
    Wien, damit die Spracherkennung eine sichere Entscheidung treffen kann.</p>
    <a href="../b.html#frag">b</a> <a href="http://Other.example:80/c">c</a>
    <a href="/b.html">again</a> <a rel="nofollow" href="/hidden">n</a>
    <a href="mailto:x@y">m</a> <a href="javascript:void(0)">j</a></article></body></html>"""
    result = extract_page(fetched(html), drop=TRACKING_PARAMS)
    assert isinstance(result, Document)
    assert result.out_links == ("http://127.0.0.1:8000/b.html", "http://other.example/c")
    assert result.canonical_url == "http://127.0.0.1:8000/kanon?a=1&b=2"
    assert result.language == "de"
    assert result.author == "Anna Autorin" and result.description == "Eine Beschreibung"


@pytest.mark.parametrize(
    "html", ["", "   ", "<html><body><script>var x = 1;</script><style>p{}</style></body></html>"]
)
def test_pages_without_text_are_no_content(html: str) -> None:
    result = extract_page(fetched(html), drop=TRACKING_PARAMS)
    assert isinstance(result, Failure)
    assert (result.stage, result.error_type, result.retryable) == ("extract", "NoContent", False)


def test_minimum_words_drops_with_reason() -> None:
    result = extract_page(
        fetched("<html><body><article><p>Too short.</p></article></body></html>"),
        drop=TRACKING_PARAMS,
        min_words=50,
    )
    assert isinstance(result, Failure) and "fewer than the minimum 50" in result.message


def test_content_hash_ignores_whitespace_and_unicode_form() -> None:
    assert content_hash("café  au\nlait") == content_hash("cafe\u0301 au lait")
    assert content_hash("a b") != content_hash("a c")
    assert normalize_text(" a \t b ") == "a b"


def test_out_links_of_a_page_without_anchors() -> None:
    from trafilatura.utils import load_html

    assert (
        out_links(load_html("<html><body><p>x</p></body></html>"), "http://x/", TRACKING_PARAMS)
        == ()
    )


@pytest.mark.parametrize("workers", [0, 2])
async def test_pool_extracts_a_batch_in_processes_or_a_thread(
    workers: int, benchmark_pages: dict[str, tuple[bytes, str]]
) -> None:
    pages = [
        fetched(html.decode("utf-8", "replace"), url=f"http://x/{i}")
        for i, (html, _) in enumerate(list(benchmark_pages.values())[:6])
    ]
    pages.append(fetched("", url="http://x/empty"))
    pool = ExtractorPool(workers=workers, options=OPTIONS)
    try:
        out = await pool.extract(fetched_batch(pages))
    finally:
        pool.close()
    assert sorted(d.url for d in out.documents) == [f"http://x/{i}" for i in range(6)]
    assert [f.url for f in out.failures] == ["http://x/empty"]


ARTICLE = (
    "<html><body><nav><a href='/'>Home</a></nav><article><h1>Title here</h1>"
    "<p>Intro paragraph with <b>bold words</b> and more text, long enough for the "
    "extractor to keep it as content.</p><h2>Section two</h2><ul><li>First item of the "
    "list</li><li>Second item of the list</li></ul><p>Another paragraph with enough "
    "words in it to count as content for the extractor.</p></article></body></html>"
)


def test_markdown_keeps_headings_lists_and_emphasis() -> None:
    result = extract_page(fetched(ARTICLE), drop=TRACKING_PARAMS, markdown=True)
    assert isinstance(result, Document) and result.markdown is not None
    lines = result.markdown.splitlines()
    assert "# Title here" in lines and "## Section two" in lines
    assert "- First item of the list" in lines and "- Second item of the list" in lines
    assert "**bold words**" in result.markdown
    assert "Home" not in result.markdown  # boilerplate stays out, as in the text


def test_markdown_option_leaves_the_text_as_it_is(
    benchmark_pages: dict[str, tuple[bytes, str]],
) -> None:
    for html, _ in list(benchmark_pages.values())[:10]:
        page = fetched(html.decode("utf-8", "replace"))
        plain = extract_page(page, drop=TRACKING_PARAMS)
        both = extract_page(page, drop=TRACKING_PARAMS, markdown=True)
        assert isinstance(plain, Document) and isinstance(both, Document)
        assert both.text == plain.text and both.content_hash == plain.content_hash
        assert plain.markdown is None and both.markdown


@pytest.mark.parametrize(
    ("lang", "expected"), [("en-GB", "en"), ("x" * 40, None), ("12", None), ("", None)]
)
def test_a_declared_language_is_kept_only_when_it_is_one(lang: str, expected: str | None) -> None:
    # Too short a text for identification: the page's own <html lang> is the fallback.
    result = extract_page(
        fetched(
            f'<html lang="{lang}"><body><article><p>Short text here.</p></article></body></html>'
        ),
        drop=TRACKING_PARAMS,
    )
    assert isinstance(result, Document) and result.language == expected


@pytest.mark.parametrize(
    ("head", "canonical"),
    [
        ('<base href="http://[::1/">', None),  # urljoin: "Invalid IPv6 URL"
        ('<link rel="canonical" href="//[bad/x">', None),
        # An unusable <base> is ignored: the canonical resolves against the page's URL.
        ('<base href="http://[x"><link rel="canonical" href="/c">', "http://127.0.0.1:8000/c"),
    ],
)
def test_a_malformed_base_or_canonical_is_ignored_not_the_page(
    head: str, canonical: str | None
) -> None:
    # urljoin raises ValueError on them: that failed the whole page as ExtractFailed.
    html = ARTICLE.replace("<html>", f"<html><head>{head}</head>").replace(
        "<a href='/'>", "<a href='/home'>"
    )
    result = extract_page(fetched(html), drop=TRACKING_PARAMS)
    assert isinstance(result, Document), result
    assert "Intro paragraph" in result.text and result.canonical_url == canonical
    assert result.out_links == ("http://127.0.0.1:8000/home",)  # against the page's URL


def test_a_page_of_very_many_links_keeps_its_text_and_the_first_links() -> None:
    from quarrycore.extract.page import MAX_OUT_LINKS

    many = "".join(f"<a href='/p/{i}'>link {i}</a>" for i in range(MAX_OUT_LINKS + 5_000))
    html = ARTICLE.replace("</body>", f"<div>{many}</div></body>")
    result = extract_page(fetched(html), drop=TRACKING_PARAMS)
    assert isinstance(result, Document) and "Intro paragraph" in result.text
    assert len(result.out_links) == MAX_OUT_LINKS
    assert "http://127.0.0.1:8000/p/0" in result.out_links  # the first ones, in order
    assert "http://127.0.0.1:8000/p/14999" not in result.out_links


def test_the_fork_server_preload_loads_the_language_model() -> None:
    """py3langid loads its model (~75 MB) on first use, not on import: the fork server's
    preload must use it, or each extraction process loads a copy of its own."""
    probe = "import quarrycore.extract.warm, py3langid.langid as L; print(L.IDENTIFIER is not None)"
    proc = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "True"
