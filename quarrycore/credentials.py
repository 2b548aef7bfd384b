"""Secrets in URLs: the one place that hides, removes and restores them.

A database URL may carry a password (``postgresql://user:pw@host/db`` or
``…/db?password=pw``), and so may a URL found on the web (``http://user:pw@host/``).
Whatever the project shows, logs, raises, persists or sends to the Prefect API goes
through :func:`mask_url` first. The command line hands a flow its store as a URL without
the password (:func:`split_password`); the process that runs the flow puts it back from
its own environment (:func:`with_password`, the ``database_password`` setting).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import quote, unquote

MASK = "***"
# Query parameters that carry a secret in database and service URLs (libpq, pymysql,
# cloud drivers); compared lower-case.
SECRET_PARAMS = frozenset(
    {"password", "passwd", "pwd", "pass", "sslpassword", "secret", "token", "access_token"}
)
_Replace = Callable[[str], "str | None"]  # a secret's new text; None removes it
_AUTHORITY = re.compile(r"^(?P<head>[A-Za-z][A-Za-z0-9+.\-]*://)(?P<authority>[^/?#]*)")


def mask_url(url: str, *, query: bool = True) -> str:
    """``url`` with every password hidden (userinfo and, unless ``query`` is false, secret
    query parameters), the rest kept as it was: what may be shown, logged, raised or
    persisted. Never raises. A crawled URL is masked with ``query=False``: its query is
    part of what the page is (``?token=`` of a web page is its address, not our secret)."""
    return _edit(url, password=_hide, query_value=_hide if query else _keep)


def _hide(_secret: str) -> str:
    return MASK


def _keep(value: str) -> str:
    return value


def split_password(url: str) -> tuple[str, str | None]:
    """``url`` without its password, and the password (``None`` when it had none). The
    first is a credential-free reference that may be stored by the Prefect server."""
    found: list[str] = []

    def take(old: str) -> None:
        found.append(unquote(old))
        return None

    stripped = _edit(url, password=take, query_value=take)
    return stripped, (found[0] if found else None)


def with_password(url: str, password: str | None) -> str:
    """``url`` with ``password`` put back: in the userinfo when the URL names a user, else
    as the ``password`` query parameter (libpq's form). A URL that has one is unchanged."""
    if not password or split_password(url)[1] is not None:
        return url
    match = _AUTHORITY.match(url)
    if match and "@" in match["authority"]:
        user, _, host = match["authority"].rpartition("@")
        authority = f"{user}:{quote(password, safe='')}@{host}"
        return match["head"] + authority + url[match.end() :]
    fragment = ""
    if "#" in url:
        url, fragment = url.split("#", 1)
        fragment = "#" + fragment
    separator = "&" if "?" in url else "?"
    return f"{url}{separator}password={quote(password, safe='')}{fragment}"


def _edit(url: str, *, password: _Replace, query_value: _Replace) -> str:
    """``url`` with the userinfo password and secret query values replaced (``None``:
    removed), by string surgery: parsing and unparsing would respell other parts (e.g.
    ``sqlite:///x.db`` comes back as ``sqlite:/x.db``)."""
    match = _AUTHORITY.match(url)
    head, rest = url, ""
    if match:
        authority = match["authority"]
        if "@" in authority:
            userinfo, _, host = authority.rpartition("@")
            user, colon, secret = userinfo.partition(":")
            if colon:
                new = password(secret)
                userinfo = user if new is None else f"{user}:{new}"
            authority = f"{userinfo}@{host}"
        head, rest = match["head"] + authority, url[match.end() :]
    if "?" not in rest:
        return head + rest
    path, _, query = rest.partition("?")
    query, hash_mark, fragment = query.partition("#")
    pairs = []
    for pair in query.split("&"):
        name, equals, value = pair.partition("=")
        if equals and unquote(name).lower() in SECRET_PARAMS:
            new = query_value(value)
            if new is None:
                continue
            pair = f"{name}={new}"
        pairs.append(pair)
    query = "&".join(pairs)
    return head + path + ("?" + query if query else "") + hash_mark + fragment
