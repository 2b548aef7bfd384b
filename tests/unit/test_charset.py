"""Decoding HTML bodies whose headers and meta tags may lie (quarrycore/charset.py)."""

from __future__ import annotations

import codecs
import random

import pytest

from quarrycore.fetch.charset import decode_html

DISH = "crème brûlée"
RUSSIAN = (
    "Москва - столица России, город федерального значения, административный центр "
    "Центрального федерального округа и центр Московской области, в состав которой "
    "не входит. Крупнейший по численности населения город России и её субъект. "
)


def page(body: str, head: str = "") -> str:
    return f"<html><head>{head}<title>t</title></head><body><p>{body}</p></body></html>"


def test_utf8_bom_wins_over_a_wrong_header() -> None:
    html = page(DISH)
    text, encoding = decode_html(codecs.BOM_UTF8 + html.encode(), "text/html; charset=latin-1")
    assert (text, encoding) == (html, "utf-8")  # the BOM itself is not part of the text


def test_utf16_bom_wins_over_header_and_meta() -> None:
    html = page(DISH, '<meta charset="windows-1252">')
    text, encoding = decode_html(
        codecs.BOM_UTF16_LE + html.encode("utf-16-le"), "text/html; charset=utf-8"
    )
    assert (text, encoding) == (html, "utf-16-le")


@pytest.mark.parametrize(
    ("content_type", "charset", "expected_encoding"),
    [
        ("text/html; charset=utf-8", "utf-8", "utf-8"),
        ("text/html; charset=KOI8-R", "koi8-r", "koi8-r"),
        ('text/html; charset="windows-1251"', "cp1251", "cp1251"),
        ("text/html;charset=shift_jis", "shift_jis", "cp932"),  # WHATWG: Shift_JIS is cp932
    ],
)
def test_header_charset_is_used_when_it_decodes(
    content_type: str, charset: str, expected_encoding: str
) -> None:
    html = page("日本語のテキスト" if charset == "shift_jis" else RUSSIAN)
    text, encoding = decode_html(html.encode(charset), content_type)
    assert (text, encoding) == (html, expected_encoding)


def test_header_charset_wins_over_a_meta_that_also_decodes() -> None:
    # Every byte decodes in both KOI8-R and windows-1251, so the header's order decides.
    html = page(RUSSIAN, '<meta charset="windows-1251">')
    text, encoding = decode_html(html.encode("koi8-r"), "text/html; charset=koi8-r")
    assert (text, encoding) == (html, "koi8-r")


def test_a_lying_header_falls_back_to_the_meta_charset() -> None:
    html = page(DISH, '<meta charset="windows-1252">')
    body = html.encode("windows-1252")
    with pytest.raises(UnicodeDecodeError):
        body.decode("utf-8")  # the premise: the header's charset cannot decode it
    text, encoding = decode_html(body, "text/html; charset=utf-8")
    assert (text, encoding) == (html, "cp1252")
    assert DISH in text


def test_a_lying_header_falls_back_to_http_equiv_meta() -> None:
    meta = '<meta http-equiv="Content-Type" content="text/html; charset=windows-1252">'
    html = page(DISH, meta)
    text, encoding = decode_html(html.encode("cp1252"), "text/html; charset=utf-8")
    assert (text, encoding) == (html, "cp1252")


@pytest.mark.parametrize("label", ["iso-8859-1", "ISO-8859-1", "latin1", "us-ascii"])
def test_latin1_labels_resolve_to_cp1252_as_whatwg_says(label: str) -> None:
    # 0x80, 0x93 and 0x94 are C1 controls in ISO-8859-1 but € “ ” in windows-1252.
    text, encoding = decode_html(b"<p>\x80 \x93quoted\x94</p>", f"text/html; charset={label}")
    assert (text, encoding) == ("<p>€ “quoted”</p>", "cp1252")


def test_latin1_meta_resolves_to_cp1252() -> None:
    body = b'<meta charset="iso-8859-1"><p>\x80 caf\xe9</p>'
    assert decode_html(body, None) == ('<meta charset="iso-8859-1"><p>€ café</p>', "cp1252")


@pytest.mark.parametrize("content_type", [None, "", "text/html", "text/html; charset=bogus"])
def test_undeclared_utf8_decodes_as_utf8(content_type: str | None) -> None:
    html = page(f"{DISH} naïve 日本 {RUSSIAN}")
    assert decode_html(html.encode(), content_type) == (html, "utf-8")


@pytest.mark.parametrize("content_type", [None, "text/html"])
def test_undeclared_koi8r_russian_is_detected(content_type: str | None) -> None:
    html = page(RUSSIAN * 3)
    body = html.encode("koi8-r")
    with pytest.raises(UnicodeDecodeError):
        body.decode("utf-8")
    text, encoding = decode_html(body, content_type)
    assert text == html
    assert codecs.lookup(encoding).name == encoding  # a real codec name, whichever it is


def test_undeclared_cp1251_russian_is_detected() -> None:
    html = page(RUSSIAN * 3)
    text, _encoding = decode_html(html.encode("cp1251"), None)
    assert text == html


def test_unknown_declarations_are_ignored() -> None:
    html = page(DISH, '<meta charset="no-such-charset">')
    assert decode_html(html.encode(), "text/html; charset=x-nonsense") == (html, "utf-8")


def test_empty_body() -> None:
    assert decode_html(b"", None) == ("", "utf-8")
    assert decode_html(b"", "text/html; charset=koi8-r") == ("", "koi8-r")


def test_meta_declaring_utf16_means_utf8() -> None:
    html = page(DISH, '<meta charset="utf-16">')
    body = html.encode()
    assert len(body) % 2 == 0  # the premise: utf-16 decodes it without error
    assert decode_html(body, None) == (html, "utf-8")


@pytest.mark.parametrize(
    "content_type",
    [
        None,
        "text/html; charset=utf-8",
        "text/html; charset=utf-16",
        "text/html; charset=koi8-r",
        "text/html; charset=bogus",
    ],
)
def test_never_raises_on_random_bytes(content_type: str | None) -> None:
    rng = random.Random(20240601)
    bodies = [rng.randbytes(rng.randrange(0, 3000)) for _ in range(150)]
    bodies += [
        b"\xef\xbb",  # truncated UTF-8 BOM
        b"\xff\xfe\x00",  # UTF-16 BOM and an odd byte
        b"\x00" * 17,
        b'<meta charset="utf-16"><p>odd</p>',
        b'<meta charset="utf-32">' + rng.randbytes(101),
        b"\xc3" * 5000,
    ]
    for body in bodies:
        text, encoding = decode_html(body, content_type)
        assert isinstance(text, str)
        assert codecs.lookup(encoding)  # a usable codec name, never None or empty


@pytest.mark.parametrize("content_type", ["text/html; charset=utf-8", None])
def test_utf8_with_one_stray_byte_stays_utf8(content_type: str | None) -> None:
    # One broken byte in 29 KB of German and Japanese decoded the whole page as cp1252.
    body = ("<p>München 日本語 " * 1500 + "</p>").encode() + b"\xff" + b"<p>Ende</p>"
    text, encoding = decode_html(body, content_type)
    assert encoding == "utf-8" and "München 日本語" in text
    assert text.count("\ufffd") == 1 and "Ã" not in text


def test_latin1_bytes_declared_utf8_are_not_taken_for_utf8() -> None:
    body = ("<p>" + "Ærøskøbing café naïve " * 200 + "</p>").encode("cp1252")
    text, encoding = decode_html(body, "text/html; charset=utf-8")
    # Detection decides among the single-byte charsets; UTF-8 it is not.
    assert encoding != "utf-8" and "café" in text and "\ufffd" not in text
