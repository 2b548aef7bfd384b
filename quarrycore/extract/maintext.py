"""The main text of a page: trafilatura, set up as measured on the article benchmark.

Figures on the 181-page ScrapingHub benchmark (``bench/extraction.py``; plain
``trafilatura.extract`` measured in the same run: F1 0.953, ~15.5 ms a page):

- ``fast=True, favor_precision=True`` is the most precise setting but finds almost
  nothing on a few pages (F1 0.944 alone, 14.4 ms);
- so when it finds less than ``FALLBACK_BELOW_CHARS`` characters, trafilatura's full
  mode (its own fallback extractors) runs on the same tree and the longer text wins:
  F1 0.969, fired on 8 of 181 pages, median time unchanged (14-15 ms);
- the headline is kept in ``title``, not repeated as the body's first line (the
  schema.org ``articleBody`` the benchmark scores; 22 pages gain, none lose): 0.970.

Full mode costs more than its text is worth on very large pages: on the Python
documentation's 24,000-word table of contents it took 7.6 s (justext and the recall
retry walk the whole tree several times over), more than the other 529 pages of the
site together spent in it. It is not run on a page of more than
``FALLBACK_MAX_PAGE_WORDS`` words: no page of the article benchmark where it fired has
more than 2,000.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Any

import trafilatura
from lxml.html import HtmlElement

from quarrycore.extract import author

author.install()  # trafilatura's author search only where it can find one

# Full mode runs when the precise pass finds less than this. Chosen on the benchmark (so
# an optimistic figure): F1 is flat from 350 to 750 characters (0.968-0.970), 0.961 at
# 250 (trafilatura's own MIN_EXTRACTED_SIZE) and 0.965 at 1,000.
FALLBACK_BELOW_CHARS = 500
FALLBACK_MAX_PAGE_WORDS = 10_000

_COMMON: dict[str, Any] = {"include_comments": False, "include_tables": True}
_PRECISE: dict[str, Any] = {"fast": True, "favor_precision": True}
_FULL: dict[str, Any] = {}
# The extensive date search cost ~4 ms a page for one more date in 80 pages.
_DATE_PARAMS = {"extensive_search": False, "original_date": True}


@dataclass(frozen=True, slots=True)
class MainText:
    text: str
    title: str | None = None
    author: str | None = None
    date: str | None = None
    description: str | None = None
    site_name: str | None = None
    full_mode: bool = False  # the text came from the fallback pass


def _field(result: object, name: str) -> str | None:
    value = getattr(result, name, None)
    return str(value) if value else None


def _text(result: object) -> str:
    return (_field(result, "text") or "").strip()


def main_text(tree: HtmlElement, url: str) -> MainText:
    """The page's main text and metadata ('' when there is none)."""
    result = trafilatura.bare_extraction(
        tree,
        url=url,
        with_metadata=True,
        date_extraction_params=_DATE_PARAMS,
        **_COMMON,
        **_PRECISE,
    )
    text, full_mode = _text(result), False
    if len(text) < FALLBACK_BELOW_CHARS and page_words(tree) <= FALLBACK_MAX_PAGE_WORDS:
        # bare_extraction works on a copy of the tree, so the same tree serves again;
        # the metadata of the first pass is kept.
        fuller = _text(trafilatura.bare_extraction(tree, url=url, **_COMMON, **_FULL))
        if len(fuller) > len(text):
            text, full_mode = fuller, True
    title = _field(result, "title")
    return MainText(
        text=without_headline(text, title),
        title=title,
        author=_field(result, "author"),
        date=_field(result, "date"),
        description=_field(result, "description"),
        site_name=_field(result, "sitename"),
        full_mode=full_mode,
    )


def page_words(tree: HtmlElement) -> int:
    """Words of every text node of the page (markup, scripts and all): its size."""
    return sum(len(text.split()) for text in tree.itertext())


def _comparable(line: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", line).casefold().split()).strip(" .:-–—|")


def without_headline(text: str, title: str | None) -> str:
    """The text without its first line when that line is the title."""
    if not title or not text:
        return text
    first, _, rest = text.partition("\n")
    return rest.lstrip() if _comparable(first) == _comparable(title) else text


def to_markdown(html: str, url: str, *, full_mode: bool = False) -> str | None:
    """The main content as Markdown (headings, lists, emphasis, tables kept), from the
    same mode as the text.

    A second pass on a fresh tree: with formatting kept, trafilatura's plain text differs
    from its text-only mode on ~30 % of the benchmark pages (spacing, and words glued
    across inline tags), so ``text`` always comes from the text-only pass.
    """
    mode = _FULL if full_mode else _PRECISE
    result = trafilatura.bare_extraction(
        html, url=url, with_metadata=False, include_formatting=True, **_COMMON, **mode
    )
    return _text(result) or None
