"""The shipped sample site: 40 real articles (ScrapingHub's MIT-licensed
article-extraction benchmark) and an index page, served from 127.0.0.1.

It lives in the runtime package because ``quarry demo`` and ``quarry serve-sample``
need it on a user's machine; the tests' misbehaving server is ``tests/support``'s.
"""

from __future__ import annotations

import gzip
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from types import TracebackType

SAMPLE_PAGES = resources.files("quarrycore.demo") / "sample_site" / "pages"


def sample_pages() -> dict[str, bytes]:
    """``/articles/<name>.html`` -> HTML of each shipped article, in name order."""
    pages: dict[str, bytes] = {}
    for entry in sorted(SAMPLE_PAGES.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".html.gz"):
            name = entry.name.removesuffix(".html.gz")[:16]
            pages[f"/articles/{name}.html"] = gzip.decompress(entry.read_bytes())
    return pages


def index_page(paths: list[str]) -> bytes:
    links = "".join(f'<li><a href="{path}">{path}</a></li>' for path in paths)
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        "<title>QuarryCore sample site</title></head><body><h1>QuarryCore sample site</h1>"
        f"<ul>{links}</ul></body></html>"
    ).encode()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 512  # http.server's default backlog of 5 drops connections


class SampleSite:
    """The sample site on 127.0.0.1 (``port`` 0: any free port), in a background thread."""

    def __init__(self, *, port: int = 0) -> None:
        pages = sample_pages()
        self.article_paths = list(pages)
        files = {**pages, "/": index_page(self.article_paths)}

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                body = files.get(self.path)
                self.send_response(200 if body is not None else 404)
                body = body if body is not None else b"not found"
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._httpd = _Server(("127.0.0.1", port), Handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def article_urls(self) -> list[str]:
        return [self.url(path) for path in self.article_paths]

    def __enter__(self) -> SampleSite:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
