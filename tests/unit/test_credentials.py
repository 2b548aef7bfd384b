"""One masking function for every URL shown, logged, raised or persisted; a password
taken out of a flow's parameters and put back from the environment of its process."""

from __future__ import annotations

import pytest

from quarrycore.credentials import mask_url, split_password, with_password
from quarrycore.exceptions import ConfigError, InvalidURL
from quarrycore.settings import settings_from_parameters
from quarrycore.urls import normalize_url

MASKED = [
    ("sqlite:///quarry.db", "sqlite:///quarry.db"),
    ("sqlite:////abs/path/quarry.db", "sqlite:////abs/path/quarry.db"),
    ("postgresql://u:s3cret@h:5432/db", "postgresql://u:***@h:5432/db"),
    ("postgresql+psycopg2://u:p%40ss@h/db", "postgresql+psycopg2://u:***@h/db"),
    ("postgresql://u:p@ss@h/db", "postgresql://u:***@h/db"),  # an unencoded @ in it
    ("postgresql://u@h/db?password=s3cret", "postgresql://u@h/db?password=***"),
    (
        "postgresql://h/db?sslmode=require&PASSWORD=s3cret&application_name=q",
        "postgresql://h/db?sslmode=require&PASSWORD=***&application_name=q",
    ),
    ("mysql+pymysql://u:s3cret@h/db?charset=utf8mb4", "mysql+pymysql://u:***@h/db?charset=utf8mb4"),
    ("postgresql://u@h/db", "postgresql://u@h/db"),
    ("not a URL", "not a URL"),
]


@pytest.mark.parametrize(("url", "shown"), MASKED)
def test_every_password_form_is_hidden(url: str, shown: str) -> None:
    assert mask_url(url) == shown
    assert mask_url(shown) == shown  # masking twice changes nothing


@pytest.mark.parametrize(("url", "_shown"), MASKED)
def test_a_password_taken_out_is_put_back(url: str, _shown: str) -> None:
    reference, password = split_password(url)
    assert "s3cret" not in reference and "p@ss" not in reference
    restored = with_password(reference, password)
    assert split_password(restored) == (reference, password) or password is None


def test_a_web_url_keeps_its_query_but_not_its_password() -> None:
    url = "http://reader:pw@example.com/a?token=t1"
    assert mask_url(url, query=False) == "http://reader:***@example.com/a?token=t1"
    assert normalize_url(url, drop_params=frozenset()) == "http://example.com/a?token=t1"
    with pytest.raises(InvalidURL) as caught:
        normalize_url("http://reader:pw@[::1", drop_params=frozenset())
    assert "pw" not in caught.value.message and "reader:***@" in caught.value.message


def test_the_password_comes_from_the_environment_of_the_flow(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("QUARRY_DATABASE_PASSWORD", "from-env")
    monkeypatch.setenv("QUARRY_DEAD_LETTER_PASSWORD", "dl-env")
    chosen = settings_from_parameters(
        database_url="postgresql://u@h/db", dead_letter_url="postgresql://h/dl"
    )
    assert chosen.database_url == "postgresql://u:from-env@h/db"
    assert chosen.dead_letter_url == "postgresql://h/dl?password=dl-env"
    # A URL with a password keeps its own, a SQLite file gets none.
    assert settings_from_parameters(database_url="postgresql://u:own@h/db").database_url == (
        "postgresql://u:own@h/db"
    )
    assert settings_from_parameters(database_url="sqlite:///x.db").database_url == "sqlite:///x.db"
    recorded = str(chosen.recorded())
    assert "from-env" not in recorded and "dl-env" not in recorded
    assert chosen.recorded()["database_url"] == "postgresql://u:***@h/db"


def test_a_malformed_store_url_is_a_clear_error_without_its_password() -> None:
    from quarrycore.db import make_engine

    with pytest.raises(ConfigError) as caught:
        make_engine("postgresql://u:s3cret@h:port/db")
    assert "s3cret" not in str(caught.value) and "***" in str(caught.value)
