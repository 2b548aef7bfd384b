"""Settings from the environment, ``options`` and named parameters, in that order."""

from __future__ import annotations

import pytest

from quarrycore.exceptions import ConfigError
from quarrycore.settings import settings_from_parameters


def test_named_parameters_win_and_none_means_not_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUARRY_BATCH_SIZE", "7")
    monkeypatch.setenv("QUARRY_CONCURRENCY", "3")
    settings = settings_from_parameters(
        {"dead_letter_url": "sqlite:///from-options.db", "concurrency": 5},
        dead_letter_url=None,  # not given: the option stands
        concurrency=9,
        batch_size=None,  # not given: the environment stands
    )
    assert settings.dead_letter_url == "sqlite:///from-options.db"
    assert (settings.concurrency, settings.batch_size) == (9, 7)


def test_an_invalid_value_is_a_config_error_naming_the_field() -> None:
    with pytest.raises(ConfigError, match="invalid setting batch_size"):
        settings_from_parameters(batch_size=0)
    with pytest.raises(ConfigError, match=r"invalid setting quality\.min_words"):
        settings_from_parameters({"quality": {"min_words": -1}})
