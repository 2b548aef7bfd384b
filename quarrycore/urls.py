"""Validating and normalising input URLs, so each page has one spelling per job."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

from w3lib.url import canonicalize_url

from quarrycore.credentials import mask_url
from quarrycore.exceptions import ConfigError, InvalidURL

ALLOWED_SCHEMES = frozenset({"http", "https"})
DEFAULT_PORTS = {"http": 80, "https": 443}
MAX_URL_LENGTH = 8192

# A URL already in canonical form, as most of a URL list is: lower-case http(s) scheme
# and ASCII host, a port without leading zeros, a path of unreserved characters without
# dot segments, no query, fragment, userinfo or percent-escape. normalize_url returns it
# as it is (less a default port) without w3lib, which costs ~27 µs a URL: half the time
# of registering a million URLs. tests/unit/test_urls.py checks it gives w3lib's answer.
_CANONICAL = re.compile(
    r"(https?)://((?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)*[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)"
    r"(?::([1-9][0-9]{0,4}))?(/[A-Za-z0-9._~/-]*)?"
)


def normalize_url(raw: str, *, drop_params: frozenset[str]) -> str:
    """Return the canonical form of ``raw``: lower-case scheme and host, no default port,
    no fragment, sorted query without ``drop_params`` (the ``tracking_params`` setting:
    ``QuarrySettings.drop_params``), percent-encoding normalised, and no userinfo: a
    ``user:password@`` found on the web is dropped, never sent, stored, logged or used
    as the host's politeness key. Raise :class:`InvalidURL` (its message with any
    password hidden)."""
    candidate = raw.strip()
    if not candidate:
        raise InvalidURL("empty URL")
    if len(candidate) > MAX_URL_LENGTH:
        raise InvalidURL(f"URL longer than {MAX_URL_LENGTH} characters")
    simple = _CANONICAL.fullmatch(candidate)
    if simple is not None and "/." not in candidate:
        scheme, host, port_text, path = simple.groups()
        if port_text is None or DEFAULT_PORTS[scheme] == int(port_text):
            return f"{scheme}://{host}{path or '/'}"
        if int(port_text) <= 65535:
            return f"{scheme}://{host}:{port_text}{path or '/'}"
    return _canonicalize(candidate, drop_params)


def _canonicalize(candidate: str, drop_params: frozenset[str]) -> str:
    """normalize_url's answer for any URL, through w3lib."""
    try:
        parts = urlsplit(candidate)
        scheme = parts.scheme.lower()
        if scheme not in ALLOWED_SCHEMES:
            raise InvalidURL(f"scheme {parts.scheme or '(none)'!r} is not http or https")
        host = unquote(parts.hostname or "")
        if not host or any(ch.isspace() or ch in "%/\\<>^|" for ch in host):
            raise InvalidURL(f"no valid host in {mask_url(candidate, query=False)!r}")
        port = parts.port  # raises ValueError when out of range or not a number
        canonical = canonicalize_url(candidate, keep_fragments=False)
    except InvalidURL:
        raise
    except (ValueError, UnicodeError) as exc:
        raise InvalidURL(f"malformed URL {mask_url(candidate, query=False)!r}: {exc}") from exc
    parts = urlsplit(canonical)
    query = parts.query
    if drop_params and query:
        query = "&".join(
            pair for pair in query.split("&") if pair.split("=", 1)[0].lower() not in drop_params
        )
    netloc = parts.netloc.rpartition("@")[2]  # userinfo dropped
    if port is not None and DEFAULT_PORTS.get(scheme) == port:
        netloc = netloc.rsplit(":", 1)[0]
    return urlunsplit((scheme, netloc, parts.path or "/", query, ""))


def url_key(url: str) -> str:
    """The key of a URL in every table (a hash, so long URLs fit any index limit)."""
    return hashlib.sha1(url.encode("utf-8")).hexdigest()


def host_of(url: str) -> str:
    """The ``host[:port]`` a URL is fetched from: the unit of per-host politeness."""
    return urlsplit(url).netloc


def normalized_host(url: str) -> str:
    """:func:`host_of` a URL that :func:`normalize_url` returned, without parsing it: such
    a URL is ``scheme://netloc/...`` with a path of at least "/" (a third of the time of
    registering a URL went to ``urlsplit``)."""
    return url.partition("://")[2].partition("/")[0]


def read_urls_file(path: str | Path) -> Iterator[str]:
    """Yield the URLs of a text file, one a line; blank lines and ``#`` comments skipped."""
    file = Path(path)
    if not file.is_file():
        raise ConfigError(f"URL file not found: {file}")
    with file.open(encoding="utf-8", errors="replace") as handle:
        for line in handle:
            stripped = line.strip()
            if stripped and not stripped.startswith("#"):
                yield stripped


def iter_inputs(urls: Iterable[str] | None, urls_file: str | Path | None) -> Iterator[str]:
    """The URLs given as a list, then those of the file, read as they are needed."""
    yield from urls or ()
    if urls_file:
        yield from read_urls_file(urls_file)
