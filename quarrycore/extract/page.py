"""Turning a fetched page into a clean document (plain functions, no I/O).

trafilatura finds the main text and metadata; lxml (already parsed for trafilatura)
gives the canonical URL and the out-links; py3langid names the language when the
text is long enough to judge.
"""

from __future__ import annotations

import math
import re
from urllib.parse import urljoin

from lxml.html import HtmlElement
from trafilatura.utils import load_html

from quarrycore.exceptions import ExtractFailed, NoContent, NoIndex, URLFailure
from quarrycore.extract.maintext import main_text, to_markdown
from quarrycore.records import Document, Failure, FetchedPage
from quarrycore.text import content_hash, count_words
from quarrycore.urls import normalize_url

_MIN_CHARS_FOR_LANGID = 40
_LANGUAGE_SUBTAG = re.compile(r"[a-z]{2,8}")
_LANGID_SAMPLE = 2000


def preload_language_model() -> None:
    """Load py3langid's model now (~75 MB; py3langid loads it on its first use, not on
    import): in the fork server, so that every extraction process shares one copy."""
    import py3langid

    py3langid.rank("")


def detect_language(text: str, fallback: str | None) -> tuple[str | None, float | None]:
    """Language code and a 0..1 confidence; the page's declared language for short text."""
    if len(text) < _MIN_CHARS_FOR_LANGID:
        return fallback, None
    import py3langid  # imported lazily: loading its model costs ~0.5 s

    ranked = py3langid.rank(text[:_LANGID_SAMPLE])
    lang = ranked[0][0]
    # rank() gives log-probabilities; turn the top one into a probability.
    top = ranked[0][1]
    total = sum(math.exp(score - top) for _, score in ranked[:10])
    return str(lang), round(1.0 / total, 4)


def _declared_language(tree: HtmlElement) -> str | None:
    """The primary subtag of ``<html lang>`` when it is one (BCP 47: 2-8 letters)."""
    lang = tree.get("lang") or tree.get("{http://www.w3.org/XML/1998/namespace}lang")
    if not lang:
        return None
    primary = str(lang).split("-")[0].strip().lower()
    return primary if _LANGUAGE_SUBTAG.fullmatch(primary) else None


def _robots_directives(tree: HtmlElement) -> set[str]:
    directives: set[str] = set()
    for meta in tree.iterfind(".//meta[@name]"):
        if str(meta.get("name", "")).strip().lower() in ("robots", "quarrycore"):
            content = str(meta.get("content", "")).lower()
            directives |= {part.strip() for part in content.split(",")}
    return directives


def _base_url(tree: HtmlElement, page_url: str) -> str:
    for base in tree.iterfind(".//base[@href]"):
        try:
            return urljoin(page_url, str(base.get("href", "")).strip())
        except ValueError:
            # urljoin raises on a malformed authority (`<base href="http://[x">`: "Invalid
            # IPv6 URL"); that failed the whole page as ExtractFailed. A browser ignores
            # an unusable <base>, and so do we: links resolve against the page's URL.
            return page_url
    return page_url


def _canonical(tree: HtmlElement, base: str, drop: frozenset[str]) -> str | None:
    for link in tree.iterfind(".//link[@href]"):
        if "canonical" in (link.get("rel") or "").lower().split():
            try:
                return normalize_url(urljoin(base, link.get("href", "").strip()), drop_params=drop)
            except (URLFailure, ValueError):
                # urljoin raises ValueError before normalize_url can turn it into
                # InvalidURL (`href="//[x"`: "Invalid IPv6 URL"); uncaught, one malformed
                # canonical link failed the whole page as ExtractFailed. No canonical then.
                return None
    return None


# Links kept of one page, at most (the first in document order): normalising a page's
# 100,000 links took ~7 s of its 20 s of extraction (13 s with the cap), and a larger
# page passed extract_timeout, losing its text too.
MAX_OUT_LINKS = 10_000


def out_links(tree: HtmlElement, base: str, drop: frozenset[str]) -> tuple[str, ...]:
    """Normalised http(s) links of the page, in order, once each, at most
    ``MAX_OUT_LINKS``; ``rel=nofollow`` skipped."""
    seen: dict[str, None] = {}
    hrefs: set[str] = set()  # menus repeat links; canonicalising costs ~20 µs a link
    for anchor in tree.iterfind(".//a[@href]"):
        if len(seen) >= MAX_OUT_LINKS:
            break
        if "nofollow" in (anchor.get("rel") or "").lower().split():
            continue
        href = anchor.get("href", "").strip()
        if not href or href.startswith(("#", "javascript:", "mailto:", "tel:", "data:")):
            continue
        if href in hrefs:
            continue
        hrefs.add(href)
        try:
            seen.setdefault(normalize_url(urljoin(base, href), drop_params=drop), None)
        except (URLFailure, ValueError):
            continue
    return tuple(seen)


def extract_page(
    page: FetchedPage,
    *,
    drop: frozenset[str],
    min_words: int = 1,
    robots_meta: bool = True,
    markdown: bool = False,
    links: bool = True,
) -> Document | Failure:
    """Extract one page; a page without usable text is a :class:`Failure` with its reason.
    ``robots_meta=False`` ignores ``<meta name="robots">`` (to measure the extractor);
    ``links=False`` leaves the document's ``out_links`` empty (not looked for)."""
    try:
        return _extract(
            page,
            min_words=min_words,
            drop=drop,
            robots_meta=robots_meta,
            markdown=markdown,
            links=links,
        )
    except URLFailure as exc:
        return Failure.from_error(page.url, exc)
    except Exception as exc:  # trafilatura/lxml raise many types on hostile markup
        return Failure.from_error(
            page.url, ExtractFailed(f"{type(exc).__name__} while extracting: {exc}")
        )


def _extract(
    page: FetchedPage,
    *,
    min_words: int,
    drop: frozenset[str],
    robots_meta: bool,
    markdown: bool,
    links: bool,
) -> Document:
    if not page.html.strip():
        raise NoContent("empty body")
    tree = load_html(page.html)
    if tree is None:
        raise NoContent("the body is not parseable HTML")
    directives = _robots_directives(tree) if robots_meta else set()
    if directives & {"noindex", "none"}:
        raise NoIndex('the page asks not to be indexed (<meta name="robots" content="noindex">)')
    base = _base_url(tree, page.final_url)
    wanted = links and not directives & {"nofollow", "none"}
    found_links = out_links(tree, base, drop) if wanted else ()
    canonical = _canonical(tree, base, drop)
    declared_language = _declared_language(tree)

    found = main_text(tree, page.final_url)
    text = found.text
    if not text:
        raise NoContent("no main text found")
    words = count_words(text)
    if words < min_words:
        raise NoContent(f"{words} words, fewer than the minimum {min_words}")
    language, language_score = detect_language(text, declared_language)
    return Document(
        url=page.url,
        final_url=page.final_url,
        status_code=page.status_code,
        fetched_at=page.fetched_at,
        text=text,
        content_hash=content_hash(text),
        word_count=words,
        title=found.title,
        author=found.author,
        date=found.date,
        language=language,
        language_score=language_score,
        description=found.description,
        canonical_url=canonical,
        site_name=found.site_name,
        encoding=page.encoding,
        out_links=found_links,
        markdown=to_markdown(page.html, page.final_url, full_mode=found.full_mode)
        if markdown
        else None,
    )
