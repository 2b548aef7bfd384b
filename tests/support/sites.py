"""The misbehaving test site: real pages plus every way a URL can go wrong."""

from __future__ import annotations

import os

from tests.support.siteserver import Response, Route, html_page

HTML = {"Content-Type": "text/html; charset=utf-8"}
BODY_LIMIT = 2_000_000  # the tests' max_body_bytes; the largest benchmark page is ~1.2 MB

LATIN1_TEXT = (
    "Le café de la gare sert un crème brûlée renommé. Les habitués apprécient "
    "l'atmosphère chaleureuse et les prix modérés, même en été."
)


def flaky_article(body: bytes, failures: int) -> Route:
    """500 for the first ``failures`` requests, then the page."""

    def handler(hits: int) -> Response:
        if hits <= failures:
            return Response(500, b"<html><body>try again</body></html>")
        return Response(200, body, HTML)

    return handler


def trouble_routes(articles: list[bytes], *, slow_seconds: float) -> dict[str, Route]:
    """Routes that each end in one known outcome."""
    return {
        "/ok": Response(200, articles[0], HTML),
        "/missing": Response(404, b"<html><body>gone</body></html>", HTML),
        "/flaky": flaky_article(articles[1], failures=2),
        "/always-500": Response(503, b"<html><body>down</body></html>", HTML),
        "/redirect/1": Response(302, b"", {"Location": "/redirect/2"}),
        "/redirect/2": Response(301, b"", {"Location": "http://127.0.0.1:{port}/redirect/3"}),
        "/redirect/3": Response(307, b"", {"Location": "/ok-after-redirects"}),
        "/ok-after-redirects": Response(200, articles[2], HTML),
        "/loop": Response(302, b"", {"Location": "/loop"}),
        "/binary": Response(200, os.urandom(4096), {"Content-Type": "application/octet-stream"}),
        "/binary-as-html": Response(200, b"\x89PNG\r\n\x1a\n\x00\x00" + os.urandom(2048), HTML),
        "/huge": Response(200, b"<html><body>" + b"a" * (BODY_LIMIT + 1000), HTML),
        "/huge-streamed": Response(
            200, b"<html><body>" + b"b" * (BODY_LIMIT + 1000), HTML, close_delimited=True
        ),
        "/latin1": Response(
            200,
            html_page("Café", f"<p>{LATIN1_TEXT}</p>" * 3, charset="iso-8859-1"),
            {"Content-Type": "text/html"},
        ),
        "/lying-header": Response(
            200,
            html_page(
                "Crème",
                f"<p>{LATIN1_TEXT}</p>" * 3 + "<p>Une page à part, avec sa propre phrase.</p>",
                charset="windows-1252",
            ),
            {"Content-Type": "text/html; charset=utf-8"},
        ),
        "/empty": Response(200, b"<html><head><title>x</title></head><body></body></html>", HTML),
        "/slow": Response(200, articles[3], HTML, delay=slow_seconds),
        # Too short a text to identify its language, and a <html lang> that is none (and
        # longer than the column: PostgreSQL refused the batch).
        "/odd-lang": Response(
            200,
            html_page("Odd", "<p>Brief note.</p>").replace(
                b'lang="en"', b'lang="' + b"x" * 40 + b'"'
            ),
            HTML,
        ),
        "/reset": Response(200, b"", HTML, reset=True),
    }


# What each trouble route must end as: (state, error_type).
EXPECTED_OUTCOMES: dict[str, tuple[str, str | None]] = {
    "/ok": ("stored", None),
    "/missing": ("failed", "HTTPStatus"),
    "/flaky": ("stored", None),
    "/always-500": ("failed", "HTTPStatus"),
    "/redirect/1": ("stored", None),
    "/loop": ("failed", "TooManyRedirects"),
    "/binary": ("failed", "NotHTML"),
    "/binary-as-html": ("failed", "NotHTML"),
    "/huge": ("failed", "TooLarge"),
    "/huge-streamed": ("failed", "TooLarge"),
    "/latin1": ("stored", None),
    "/lying-header": ("stored", None),
    "/empty": ("failed", "NoContent"),
    "/slow": ("failed", "FetchTimeout"),
    "/reset": ("failed", "FetchConnectionError"),
    "/odd-lang": ("stored", None),
}


def slow_to_extract_page(megabytes: float) -> bytes:
    """Real HTML that takes trafilatura long to extract: one big table of short cells.

    Extraction is linear in its size, ~2 s per MB on this 2-core machine (so 8 MB take
    ~15 s), which a per-page time limit of a few seconds must cut off.
    """
    row = "<tr>" + "<td>cell words</td>" * 50 + "</tr>"
    rows = int(megabytes * 1_000_000 / len(row))
    return html_page("A very large table", "<table>" + row * rows + "</table>")
