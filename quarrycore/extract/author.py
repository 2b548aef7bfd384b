"""trafilatura's author search, skipped on a page where it cannot find anything.

``trafilatura.metadata.extract_author`` copies the whole tree, prunes it, then runs
three XPath expressions with regular-expression tests (a Python callback per element):
25 ms of the 45 ms trafilatura spends on a page's metadata on the Python documentation
pages (``bench/profile_extract.py``), on pages that name no author. Every expression
asks for an element named ``author`` (or with a child named ``rel``) or an attribute
(``rel``, ``id``, ``class``, ``itemprop``, ``data-testid``, ``data-component``) holding
one of a few words, and returns only an element with text. So when no element of the
page is a candidate (:func:`may_name_author`: one walk over the elements, testing those
attributes for those words), trafilatura's search would return None, and it is not run.

The same answer on every page is tested against trafilatura's own function
(tests/unit/test_author.py, on the article benchmark, the documentation pages and pages
made to hit each expression); that test also pins the expressions this check was derived
from, so an upgrade of trafilatura that changes them fails until this check is reviewed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import trafilatura.metadata
from lxml import etree
from lxml.html import HtmlElement

# The words each attribute is tested for in trafilatura's AUTHOR_XPATHS (its regular
# expressions are case-sensitive, as these tests are), shortened to a part every matching
# value contains: "uthor" covers author, author-name, AuthorName, AuthorCard, [Aa]uthor;
# "byl" byline and byl; "yline" [Bb]yline.
_WORDS: dict[str, tuple[str, ...]] = {
    "rel": ("author",),
    "id": ("uthor", "zuozhe", "bianji", "xiaobian"),
    "class": (
        "uthor",
        "byl",
        "yline",
        "BBL",
        "username",
        "screenname",
        "writer",
        "zuozhe",
        "bianji",
        "xiaobian",
        "channel-name",
        "submitted-by",
        "posted-by",
        "journalist-name",
    ),
    "itemprop": ("author",),
    "data-testid": ("uthor",),
    "data-component": ("Byline",),
}


_WORD = re.compile("|".join(sorted({word for words in _WORDS.values() for word in words})))


def _candidates(tree: HtmlElement) -> Iterator[HtmlElement]:
    """Elements that trafilatura's author expressions could select (and some more: any
    of the words in any of the attributes); a walk in Python measured faster than one
    XPath here (3 against 7 ms on a documentation page of ~1,900 elements)."""
    for element in tree.iter(etree.Element):
        if element.tag == "author":
            yield element
        elif element.tag == "rel":  # rel='me' in the first expression: a child named rel
            parent = element.getparent()
            if parent is not None:
                yield parent
        attributes = element.attrib
        if attributes and any(
            (value := attributes.get(name)) and _WORD.search(value) for name in _WORDS
        ):
            yield element


_trafilatura_extract_author: Callable[[HtmlElement], str | None] = (
    trafilatura.metadata.extract_author
)


def may_name_author(tree: HtmlElement) -> bool:
    """False when trafilatura's author search cannot find anything on ``tree``.

    A candidate also needs text: trafilatura keeps only an element whose text (all of it,
    whitespace collapsed as ``trim`` does) has 3 to 120 characters, and pruning can only
    take text away from an element (a removed element's tail moves to its previous
    sibling's or its parent's tail, outside the element). The Python docs' ``<link
    rel="author" href="about.html">``, on every page, has none."""
    return any("".join(element.itertext()).strip() for element in _candidates(tree))


def extract_author(tree: HtmlElement) -> str | None:
    """trafilatura's ``extract_author``, run only where it can find something."""
    return _trafilatura_extract_author(tree) if may_name_author(tree) else None


def install() -> None:
    """Have trafilatura's metadata extraction use :func:`extract_author` (it looks the
    function up in its module on each call). Idempotent."""
    trafilatura.metadata.extract_author = extract_author
