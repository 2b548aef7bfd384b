"""A small real HTTP server on 127.0.0.1 for the tests and benchmarks.

It serves a route table, can misbehave on purpose (errors, delays, resets), and logs
every request so tests can count what was fetched.
"""

from __future__ import annotations

import socket
import struct
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from quarrycore.demo.site import index_page, sample_pages


@dataclass(slots=True)
class Response:
    status: int = 200
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=lambda: {"Content-Type": "text/html"})
    delay: float = 0.0  # seconds before answering
    reset: bool = False  # drop the connection without an answer
    close_delimited: bool = False  # no Content-Length: the body ends when the connection does


@dataclass(frozen=True, slots=True)
class Exchange:
    """One request as the server saw it and what it answered."""

    path: str
    headers: dict[str, str]
    status: int
    body_bytes: int


def _validators(response: Response) -> dict[str, str]:
    return {k: v for k, v in response.headers.items() if k.lower() in ("etag", "last-modified")}


def _not_modified(response: Response, request: Mapping[str, str]) -> bool:
    """A conditional GET the response's validators satisfy (RFC 9110 13.1.1-13.1.3:
    If-None-Match wins over If-Modified-Since), as real servers answer them."""
    if response.status != 200:
        return False
    mine = {k.lower(): v for k, v in _validators(response).items()}
    if_none_match = request.get("If-None-Match")
    if if_none_match is not None:
        etag = mine.get("etag")
        return etag is not None and etag in [t.strip() for t in if_none_match.split(",")]
    since, modified = request.get("If-Modified-Since"), mine.get("last-modified")
    if since is None or modified is None:
        return False
    try:
        return parsedate_to_datetime(modified) <= parsedate_to_datetime(since)
    except (TypeError, ValueError):
        return False


Handler = Callable[[int], Response]  # called with how many times the path was asked for
Route = Response | Handler


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # http.server's default backlog of 5 drops connections under concurrency.
    request_queue_size = 512
    allow_reuse_address = True

    def handle_error(self, request: object, client_address: object) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, ConnectionError | TimeoutError):
            return  # a client that hung up (a cut-off download, a reset test) is normal here
        super().handle_error(request, client_address)  # type: ignore[arg-type]


class SiteServer:
    """Serve ``routes`` (path -> response) on 127.0.0.1 in a background thread."""

    def __init__(
        self,
        routes: Mapping[str, Route] | None = None,
        *,
        port: int = 0,
        delay: float = 0.0,
        host: str = "127.0.0.1",
    ) -> None:
        self.routes: dict[str, Route] = dict(routes or {})
        self.delay = delay
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()
        self.log: list[tuple[float, str]] = []  # (wall-clock time, path) of each request
        # Each request's path and headers, and the status and body bytes answered.
        self.exchanges: list[Exchange] = []
        # Requests being answered now, and the most there ever were at once.
        self.in_flight = 0
        self.peak_in_flight = 0
        self.host = host
        self._httpd = _Server((host, port), self._handler_class())
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    def url(self, path: str = "/") -> str:
        return f"http://{self.host}:{self.port}{path}"

    def start(self) -> SiteServer:
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> SiteServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def count(self, path: str) -> int:
        with self._lock:
            return self._counts[path]

    def counts(self) -> Counter[str]:
        with self._lock:
            return Counter(self._counts)

    def _record(self, path: str) -> int:
        with self._lock:
            self._counts[path] += 1
            self.log.append((time.time(), path))
            return self._counts[path]

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class RequestHandler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                with server._lock:
                    server.in_flight += 1
                    server.peak_in_flight = max(server.peak_in_flight, server.in_flight)
                try:
                    self._answer()
                finally:
                    with server._lock:
                        server.in_flight -= 1

            def _answer(self) -> None:
                path = self.path
                hits = server._record(path)
                route = server.routes.get(path)
                if route is None:
                    response = Response(404, b"<html><body>not found</body></html>")
                elif isinstance(route, Response):
                    response = route
                else:
                    response = route(hits)
                if server.delay or response.delay:
                    time.sleep(server.delay + response.delay)
                if _not_modified(response, dict(self.headers.items())):
                    response = Response(304, b"", _validators(response))
                if response.reset:
                    # SO_LINGER 0: close with a TCP RST, as a crashing peer would.
                    self.connection.setsockopt(
                        socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                    )
                    self.close_connection = True
                    return
                self.send_response(response.status)
                headers = {k.lower(): v for k, v in response.headers.items()}
                for name, value in response.headers.items():
                    self.send_header(name, value)
                if response.close_delimited:
                    self.send_header("Connection", "close")
                    self.close_connection = True
                elif "content-length" not in headers:
                    self.send_header("Content-Length", str(len(response.body)))
                self.end_headers()
                with server._lock:
                    server.exchanges.append(
                        Exchange(
                            path, dict(self.headers.items()), response.status, len(response.body)
                        )
                    )
                try:
                    self.wfile.write(response.body)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True

            def log_message(self, format: str, *args: object) -> None:
                pass  # the request log above is the record; keep test output clean

        return RequestHandler


def html_page(title: str, body: str, *, charset: str = "utf-8") -> bytes:
    markup = (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="{charset}">'
        f"<title>{title}</title></head><body><article><h1>{title}</h1>{body}"
        "</article></body></html>"
    )
    return markup.encode(charset)


def sample_site_routes() -> dict[str, Route]:
    """The shipped sample site (``quarry demo``'s) as a route table of this server."""
    pages = sample_pages()
    routes: dict[str, Route] = {
        path: Response(200, body, {"Content-Type": "text/html; charset=utf-8"})
        for path, body in pages.items()
    }
    routes["/"] = Response(200, index_page(list(pages)))
    return routes
