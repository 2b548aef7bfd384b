"""Files served over HTTP on 127.0.0.1 with byte ranges (as object stores and CDNs serve
them), counting the bytes sent: for reading remote WARC files through fsspec."""

from __future__ import annotations

import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

_RANGE = re.compile(r"bytes=(\d+)-(\d*)")


class RangeServer:
    """Serve the files of ``root`` at ``/<name>``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.sent = 0  # body bytes sent, all requests
        self.requests = 0
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/{name}"

    def __enter__(self) -> RangeServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _file(self) -> Path | None:
                path = server.root / self.path.lstrip("/")
                return path if path.is_file() else None

            def do_HEAD(self) -> None:
                path = self._file()
                if path is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(path.stat().st_size))
                self.send_header("Accept-Ranges", "bytes")
                self.end_headers()

            def do_GET(self) -> None:
                path = self._file()
                if path is None:
                    self.send_error(404)
                    return
                data = path.read_bytes()
                match = _RANGE.fullmatch(self.headers.get("Range", ""))
                if match:
                    first = int(match.group(1))
                    last = int(match.group(2)) if match.group(2) else len(data) - 1
                    body = data[first : last + 1]
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {first}-{last}/{len(data)}")
                else:
                    body = data
                    self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Accept-Ranges", "bytes")
                self.end_headers()
                self.wfile.write(body)
                with server._lock:
                    server.sent += len(body)
                    server.requests += 1

            def log_message(self, format: str, *args: object) -> None:
                pass

        return Handler
