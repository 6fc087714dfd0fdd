import os
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from healthwatch.env import env_bool, env_int, env_list, env_str, env_url, load_env_file


def test_a_boolean_setting_accepts_the_usual_spellings() -> None:
    assert env_bool("X", False, environ={"X": "yes"}) is True
    assert env_bool("X", True, environ={"X": "OFF"}) is False
    assert env_bool("X", True, environ={}) is True


def test_a_boolean_setting_refuses_anything_else_naming_the_variable() -> None:
    with pytest.raises(ImproperlyConfigured, match=r"DEBUG='maybe' is not a boolean"):
        env_bool("DEBUG", False, environ={"DEBUG": "maybe"})


def test_an_integer_setting_refuses_text_and_out_of_range_values() -> None:
    with pytest.raises(ImproperlyConfigured, match="API_PAGE_SIZE='ten' is not a whole number"):
        env_int("API_PAGE_SIZE", 100, environ={"API_PAGE_SIZE": "ten"})
    with pytest.raises(ImproperlyConfigured, match="below the minimum of 1"):
        env_int("API_PAGE_SIZE", 100, minimum=1, environ={"API_PAGE_SIZE": "0"})
    with pytest.raises(ImproperlyConfigured, match="above the maximum of 5"):
        env_int("N", 1, maximum=5, environ={"N": "6"})
    assert env_int("N", 1, environ={"N": " 42 "}) == 42


def test_a_list_setting_refuses_empty_items() -> None:
    assert env_list("H", ["a"], environ={"H": "a.org, b.org"}) == ["a.org", "b.org"]
    with pytest.raises(ImproperlyConfigured, match="empty item"):
        env_list("H", [], environ={"H": "a.org,,b.org"})


def test_a_url_setting_refuses_an_unsupported_scheme() -> None:
    assert env_url("DB", "sqlite:///x", schemes=("sqlite",), environ={}) == "sqlite:///x"
    with pytest.raises(ImproperlyConfigured, match="must be a URL starting with one of"):
        env_url("DATABASE_URL", "", schemes=("postgres",), environ={"DATABASE_URL": "mysql://x"})


def test_a_blank_value_means_the_default() -> None:
    assert env_str("X", "default", environ={"X": "   "}) == "default"


def test_an_env_file_fills_only_what_the_environment_lacks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(
        "# comment\nHW_TEST_A=from-file   # inline comment\nHW_TEST_B='quoted'\n\nHW_TEST_C=x\n"
    )
    monkeypatch.delenv("HW_TEST_A", raising=False)
    monkeypatch.delenv("HW_TEST_B", raising=False)
    monkeypatch.setenv("HW_TEST_C", "from-environment")
    load_env_file(env_file)
    assert os.environ["HW_TEST_A"] == "from-file"
    assert os.environ["HW_TEST_B"] == "quoted"
    assert os.environ["HW_TEST_C"] == "from-environment"
    monkeypatch.delenv("HW_TEST_A")
    monkeypatch.delenv("HW_TEST_B")


def test_an_env_file_line_without_equals_is_refused_with_its_line_number(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("GOOD=1\nnot a setting\n")
    with pytest.raises(ImproperlyConfigured, match=r"\.env:2: expected KEY=VALUE"):
        load_env_file(env_file)
