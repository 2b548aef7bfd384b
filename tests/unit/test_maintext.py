"""The main-text rules of our own around trafilatura (quarrycore/maintext.py)."""

from __future__ import annotations

import pytest
from trafilatura.utils import load_html

from quarrycore.extract.maintext import main_text, to_markdown, without_headline


@pytest.mark.parametrize(
    ("text", "title", "expected"),
    [
        ("Big News Today\nThe body.", "Big News Today", "The body."),
        ("BIG  news today:\n\nThe body.", "Big News Today", "The body."),  # case, spaces
        ("Big News Today | Site\nThe body.", "Big News Today", "Big News Today | Site\nThe body."),
        (
            "The body mentions Big News Today.",
            "Big News Today",
            "The body mentions Big News Today.",
        ),
        ("Intro\nBig News Today\nThe body.", "Big News Today", "Intro\nBig News Today\nThe body."),
        ("Big News Today\nThe body.", None, "Big News Today\nThe body."),
        ("", "Big News Today", ""),
    ],
)
def test_the_headline_is_dropped_only_as_the_first_line(
    text: str, title: str | None, expected: str
) -> None:
    assert without_headline(text, title) == expected


PAGE = (
    "<html><head><title>Rivers of the North</title></head><body>"
    "<nav><a href='/'>Home</a> <a href='/about'>About</a></nav><article>"
    "<h1>Rivers of the North</h1>"
    + "<p>The northern rivers freeze in winter and flood in spring, carrying silt far "
    "downstream where farmers have grown barley on the flood plains for centuries.</p>"
    * 6
    + "</article><footer>Copyright 2026 · Privacy</footer></body></html>"
)


def test_main_text_is_the_body_with_its_metadata_apart() -> None:
    found = main_text(load_html(PAGE), "http://x.test/rivers")
    assert found.title == "Rivers of the North"
    assert found.text.startswith("The northern rivers freeze")
    assert "Home" not in found.text and "Copyright" not in found.text
    assert not found.full_mode  # the precise pass found plenty


def test_markdown_keeps_the_headline_as_a_heading() -> None:
    markdown = to_markdown(PAGE, "http://x.test/rivers")
    assert markdown is not None and markdown.startswith("# Rivers of the North")
