"""The author search skipped where it cannot find anything gives trafilatura's own answer
(quarrycore/extract/author.py): trafilatura's ``extract_author`` is the reference."""

from __future__ import annotations

import hashlib

import pytest
import trafilatura.xpaths
from trafilatura.utils import load_html

from quarrycore.extract import author
from tests.conftest import load_benchmark, require_benchmark
from tests.support.docsite import docsite_pages

reference = author._trafilatura_extract_author

# The expressions the check was derived from; another trafilatura may test other words.
PINNED = "bd5f280624916a837f627a558a6f87d6ebde80d97a00908c8a856c7b7b9eae82"


def _same_answers(pages: dict[str, bytes]) -> tuple[int, int]:
    """Pages where the search ran and where it was skipped; fails on any difference."""
    ran = skipped = 0
    for name, html in pages.items():
        tree = load_html(html)
        if tree is None:
            continue
        expected = reference(tree)
        assert author.extract_author(tree) == expected, name
        if author.may_name_author(tree):
            ran += 1
        else:
            assert expected is None, name
            skipped += 1
    return ran, skipped


def test_trafilaturas_author_expressions_are_the_ones_the_check_was_derived_from() -> None:
    paths = trafilatura.xpaths.AUTHOR_XPATHS + trafilatura.xpaths.AUTHOR_DISCARD_XPATHS
    digest = hashlib.sha256("\n".join(x.path for x in paths).encode()).hexdigest()
    assert digest == PINNED, "trafilatura's author XPaths changed: review extract/author.py"


def test_metadata_extraction_uses_the_check() -> None:
    import trafilatura.metadata

    import quarrycore.extract.maintext  # noqa: F401  # installs it

    assert trafilatura.metadata.extract_author is author.extract_author


def test_the_article_benchmark_gets_trafilaturas_authors() -> None:
    require_benchmark()
    ran, skipped = _same_answers({n: html for n, (html, _) in load_benchmark().items()})
    assert ran >= 50 and skipped >= 20  # both ways are exercised


def test_the_documentation_site_gets_trafilaturas_authors() -> None:
    _, skipped = _same_answers(docsite_pages())
    assert skipped >= 400  # the docs name no author: the search is skipped


@pytest.mark.parametrize(
    "markup",
    [
        '<a rel="author" href="/me">Jane Roe Smith</a>',
        '<div id="author">Jane Roe Smith</div>',
        '<span class="author">Jane Roe Smith</span>',
        '<p itemprop="author name">Jane Roe Smith</p>',
        '<div data-testid="AuthorCard">Jane Roe Smith</div>',
        '<span class="c-AuthorName">Jane Roe Smith</span>',
        "<author>Jane Roe Smith</author>",
        '<p class="byline">By Jane Roe Smith</p>',
        '<span class="BBL">Jane Roe Smith</span>',
        '<h4 class="username">Jane Roe Smith</h4>',
        '<div id="zuozhe">Jane Roe Smith</div>',
        '<div class="xiaobian">Jane Roe Smith</div>',
        '<div class="submitted-by">Jane Roe Smith</div>',
        '<div class="journalist-name">Jane Roe Smith</div>',
        '<div data-component="Byline">Jane Roe Smith</div>',
        '<div id="post-Author">Jane Roe Smith</div>',
        '<em class="screenname">Jane Roe Smith</em>',
        '<em class="staff-writer">Jane Roe Smith</em>',
        '<div class="x"><rel>me</rel>Jane Roe Smith</div>',
    ],
)
def test_each_kind_of_author_markup_is_searched(markup: str) -> None:
    html = f"<html><body><article><p>Some text of the article.</p>{markup}</article></body></html>"
    tree = load_html(html)
    assert author.may_name_author(tree)
    assert author.extract_author(tree) == reference(tree)


def test_a_page_without_author_markup_is_not_searched() -> None:
    tree = load_html('<html><body><p class="lead">Text by nobody.</p></body></html>')
    assert not author.may_name_author(tree)
    assert author.extract_author(tree) is None
