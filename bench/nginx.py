"""nginx on 127.0.0.1 serving a directory, for benchmarks: the installed binary, else
Debian's package downloaded (``apt-get download``, no root needed) and unpacked into
the checkout's ``.cache/nginx/`` (its libraries are the system's)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

CACHE = Path(__file__).resolve().parents[1] / ".cache" / "nginx"


def nginx_binary() -> Path:
    found = shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
    )
    if found:
        return Path(found)
    unpacked = CACHE / "root" / "usr" / "sbin" / "nginx"
    if unpacked.exists():
        return unpacked
    debs = CACHE / "deb"
    debs.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["apt-get", "download", "nginx"], cwd=debs, capture_output=True, text=True
    )
    if done.returncode != 0 and os.geteuid() == 0:
        subprocess.run(["apt-get", "update"], capture_output=True)
        done = subprocess.run(
            ["apt-get", "download", "nginx"], cwd=debs, capture_output=True, text=True
        )
    packages = sorted(debs.glob("nginx_*.deb"))
    if done.returncode != 0 or not packages:
        raise SystemExit(f"no nginx here and apt-get download nginx failed: {done.stderr.strip()}")
    subprocess.run(["dpkg-deb", "-x", str(packages[-1]), str(CACHE / "root")], check=True)
    return unpacked


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Nginx:
    """``root`` served at http://127.0.0.1:<port>/ by one nginx worker process, with
    ``locations`` (nginx ``location`` blocks) in its server block."""

    def __init__(self, root: Path, work: Path, *, locations: str = "") -> None:
        self.port = _free_port()
        work.mkdir(parents=True, exist_ok=True)
        conf = work / "nginx.conf"
        # As root, nginx's workers would drop to `nobody`, who may not read the tree.
        user = "user root root;" if os.geteuid() == 0 else ""
        conf.write_text(
            f"""
{user}
worker_processes 1;
daemon off;
pid {work}/nginx.pid;
error_log {work}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    types {{ text/html html; text/css css; application/javascript js; image/png png; }}
    default_type application/octet-stream;
    access_log off;
    sendfile on;
    keepalive_requests 100000;
    client_body_temp_path {work}/body;
    proxy_temp_path {work}/proxy;
    fastcgi_temp_path {work}/fastcgi;
    uwsgi_temp_path {work}/uwsgi;
    scgi_temp_path {work}/scgi;
    server {{
        listen 127.0.0.1:{self.port};
        root {root};
        disable_symlinks off;
        {locations}
    }}
}}
"""
        )
        self._process = subprocess.Popen(
            [str(nginx_binary()), "-c", str(conf), "-p", str(work), "-e", str(work / "error.log")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError as exc:
                if self._process.poll() is not None or time.monotonic() > deadline:
                    log = (work / "error.log").read_text()
                    raise SystemExit(f"nginx did not start: {log}") from exc
                time.sleep(0.05)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}/{path.lstrip('/')}"

    def stop(self) -> None:
        self._process.terminate()
        self._process.wait(timeout=10)
