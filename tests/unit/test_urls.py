"""URL validation and normalisation (quarrycore/urls.py): pure functions, no I/O but files."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

import pytest

from quarrycore.exceptions import ConfigError, InvalidURL
from quarrycore.settings import TRACKING_PARAMS
from quarrycore.urls import (
    _CANONICAL,
    MAX_URL_LENGTH,
    _canonicalize,
    host_of,
    iter_inputs,
    normalize_url,
    normalized_host,
    read_urls_file,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        # Scheme and host are lower-cased; the path keeps its case.
        ("HTTP://Example.COM/Path", "http://example.com/Path"),
        ("HTTPS://WWW.Example.Org/a/B", "https://www.example.org/a/B"),
        # Default ports go, other ports stay (443 is not http's default, nor 80 https's).
        ("http://example.com:80/a", "http://example.com/a"),
        ("https://example.com:443/a", "https://example.com/a"),
        ("http://example.com:8080/a", "http://example.com:8080/a"),
        ("http://example.com:443/a", "http://example.com:443/a"),
        ("https://example.com:80/a", "https://example.com:80/a"),
        ("http://[2001:db8::1]:80/a", "http://[2001:db8::1]/a"),
        ("http://user:pw@Example.com:80/", "http://example.com/"),  # userinfo dropped
        # The fragment is dropped.
        ("http://example.com/a#section-2", "http://example.com/a"),
        ("http://example.com/a?x=1#frag", "http://example.com/a?x=1"),
        # The query is sorted.
        ("http://example.com/a?b=2&a=1&c=3", "http://example.com/a?a=1&b=2&c=3"),
        ("http://example.com?z=1&a=2", "http://example.com/?a=2&z=1"),
        # An empty path becomes "/".
        ("http://example.com", "http://example.com/"),
        ("https://example.com:443", "https://example.com/"),
        # Internationalised host names become punycode.
        ("https://bücher.de/x", "https://xn--bcher-kva.de/x"),
        ("http://Bücher.DE:80", "http://xn--bcher-kva.de/"),
        ("http://例え.テスト/", "http://xn--r8jz45g.xn--zckzah/"),
        # Surrounding whitespace is not part of the URL.
        ("  http://example.com/a \n", "http://example.com/a"),
    ],
)
def test_normalize_url(raw: str, expected: str) -> None:
    assert normalize_url(raw, drop_params=TRACKING_PARAMS) == expected


def test_normalize_url_is_idempotent() -> None:
    raw = "HTTPS://Bücher.DE:443/Straße?b=ü&a=1&utm_source=x#top"
    once = normalize_url(raw, drop_params=TRACKING_PARAMS)
    assert once == "https://xn--bcher-kva.de/Stra%C3%9Fe?a=1&b=%C3%BC"
    assert normalize_url(once, drop_params=TRACKING_PARAMS) == once


def test_tracking_parameters_are_removed_unless_kept() -> None:
    url = "http://x.com/a?utm_source=tw&b=2&a=1&fbclid=zz&UTM_Medium=m#frag"
    assert normalize_url(url, drop_params=TRACKING_PARAMS) == "http://x.com/a?a=1&b=2"
    kept = normalize_url(url, drop_params=frozenset())
    assert kept == "http://x.com/a?UTM_Medium=m&a=1&b=2&fbclid=zz&utm_source=tw"
    assert normalize_url(url, drop_params=frozenset({"b"})) == (
        "http://x.com/a?UTM_Medium=m&a=1&fbclid=zz&utm_source=tw"
    )


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param("", id="empty"),
        pytest.param("   \t\n", id="blank"),
        pytest.param("http://exa mple.com/", id="space-in-host"),
        pytest.param("http://exa\u3000mple.com/", id="ideographic-space-in-host"),
        pytest.param("http://exa mple.com:80/", id="space-in-host-with-port"),
        pytest.param("http://", id="no-host"),
        pytest.param("http:///path", id="empty-host"),
        pytest.param("https://:443/", id="port-but-no-host"),
        pytest.param("ftp://example.com/file", id="ftp"),
        pytest.param("mailto:someone@example.com", id="mailto"),
        pytest.param("javascript:alert(1)", id="javascript"),
        pytest.param("example.com/a", id="no-scheme"),
        pytest.param("//example.com/a", id="scheme-relative"),
        pytest.param("http://example.com:65536/", id="port-65536"),
        pytest.param("http://example.com:99999/", id="port-99999"),
        pytest.param("http://example.com:-1/", id="port-negative"),
        pytest.param("http://example.com:8O/", id="port-not-a-number"),
        pytest.param("http://example.com/" + "a" * MAX_URL_LENGTH, id="too-long"),
    ],
)
def test_invalid_urls_raise_invalid_url(raw: str) -> None:
    with pytest.raises(InvalidURL) as info:
        normalize_url(raw, drop_params=TRACKING_PARAMS)
    assert info.value.error_type == "InvalidURL"
    assert info.value.stage == "validate" and not info.value.retryable


def test_length_limit_is_inclusive() -> None:
    prefix = "http://example.com/"
    at_limit = prefix + "a" * (MAX_URL_LENGTH - len(prefix))
    assert normalize_url(at_limit, drop_params=TRACKING_PARAMS) == at_limit
    with pytest.raises(InvalidURL, match="longer than"):
        normalize_url(at_limit + "a", drop_params=TRACKING_PARAMS)


def test_percent_encoded_space_in_host_is_invalid() -> None:
    with pytest.raises(InvalidURL):
        normalize_url("http://exa%20mple.com/", drop_params=TRACKING_PARAMS)


def test_host_of_keeps_a_non_default_port() -> None:
    assert host_of("http://example.com:8080/a?b") == "example.com:8080"
    assert (
        host_of(normalize_url("https://Example.com:443/", drop_params=TRACKING_PARAMS))
        == "example.com"
    )


def test_read_urls_file_skips_blank_lines_and_comments(tmp_path: Path) -> None:
    file = tmp_path / "urls.txt"
    file.write_text(
        "# seed list\n"
        "http://a.example/1\n"
        "\n"
        "   \n"
        "  http://b.example/2  \n"
        "   # indented comment\n"
        "http://c.example/3#not-a-comment\n",
        encoding="utf-8",
    )
    assert list(read_urls_file(file)) == [
        "http://a.example/1",
        "http://b.example/2",
        "http://c.example/3#not-a-comment",
    ]
    assert list(read_urls_file(str(file))) == list(read_urls_file(file))


def test_read_urls_file_raises_config_error_when_missing(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        list(read_urls_file(tmp_path / "absent.txt"))
    with pytest.raises(ConfigError):  # a directory is not a URL file either
        list(read_urls_file(tmp_path))


def test_gather_inputs_lists_then_file(tmp_path: Path) -> None:
    file = tmp_path / "urls.txt"
    file.write_text("http://f.example/1\n# c\nhttp://f.example/2\n", encoding="utf-8")
    given = ["http://l.example/1", "http://l.example/2"]
    assert list_inputs(given, file) == [*given, "http://f.example/1", "http://f.example/2"]
    assert list_inputs(iter(given), None) == given
    assert list_inputs(None, file) == ["http://f.example/1", "http://f.example/2"]
    assert list_inputs(None, None) == []
    assert given == ["http://l.example/1", "http://l.example/2"]  # input list not mutated
    with pytest.raises(ConfigError):
        list_inputs(given, tmp_path / "absent.txt")


def list_inputs(urls: Iterable[str] | None, urls_file: Path | None) -> list[str]:
    return list(iter_inputs(urls, urls_file))


def _either(normalise: Callable[[str], str], url: str) -> str:
    try:
        return normalise(url)
    except InvalidURL:
        return "InvalidURL"


def _fast(url: str) -> str:
    return normalize_url(url, drop_params=TRACKING_PARAMS)


def _slow(url: str) -> str:
    return _canonicalize(url, TRACKING_PARAMS)


def test_the_fast_path_gives_w3libs_answer() -> None:
    """URLs already canonical skip w3lib; on every combination of tricky parts (hosts,
    ports, dot segments, characters at the edge of the fast path's alphabet) the answer,
    or the refusal, is the one w3lib's path gives."""
    hosts = [
        "example.com",
        "a-b.example",
        "a--b.io",
        "xn--bcher-kva.de",
        "localhost",
        "127.0.0.1",
        "1.2.3.4.5",
        "9.com",
        "-a.com",
        "a-.com",
        "a..b",
        "a.b.",
        "EX.com",
        "x" * 63 + ".com",
        "x" * 64 + ".com",
        "a_b.com",
    ]
    ports = ["", ":80", ":443", ":8080", ":65535", ":65536", ":99999", ":0", ":080", ":1"]
    paths = [
        "",
        "/",
        "/a",
        "/a/b.html",
        "/~u/",
        "/a//b",
        "/a-b_c.d",
        "/.well-known/x",
        "/a/./b",
        "/a/../b",
        "/a.",
        "/..",
        "/.",
        "/A/B",
        "/a~b",
        "/a%7Eb",
        "/a b",
        "/a;b",
        "/a?",
        "/a#",
        "/ü",
    ]
    checked = fast = 0
    for scheme in ("http", "https", "HTTP", "ftp"):
        for host in hosts:
            for port in ports:
                for path in paths:
                    url = f"{scheme}://{host}{port}{path}"
                    assert _either(_fast, url) == _either(_slow, url), url
                    checked += 1
                    fast += _CANONICAL.fullmatch(url) is not None and "/." not in url
    assert checked == 4 * len(hosts) * len(ports) * len(paths)
    assert fast > checked // 10  # the fast path is taken on a good share of them


def test_the_host_of_a_normalised_url_is_read_without_parsing() -> None:
    raws = [
        "http://example.com",
        "HTTPS://Bücher.DE:8443/a?b=1#f",
        "http://[2001:db8::1]:8080/x",
        "http://user:pw@Example.com:80/p?q=/x",
        "https://a.b.example/?x=1/2",
        "http://127.0.0.1:9/",
    ]
    for raw in raws:
        url = normalize_url(raw, drop_params=TRACKING_PARAMS)
        assert normalized_host(url) == host_of(url), raw
