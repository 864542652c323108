"""Settings: each declared once, parsed and checked before anything heavy loads.

No voice and no app: `Settings.from_env` reads an injected environment, so these
run in milliseconds."""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path

import pytest

from config import SETTINGS, Settings, SettingsError
from config.__main__ import main


def test_the_table_is_the_fields() -> None:
    assert [s.env for s in SETTINGS] == [f.name.upper() for f in fields(Settings)]
    assert {s.kind for s in SETTINGS} == {int, float, str, Path}


def test_defaults_from_an_empty_environment() -> None:
    settings = Settings.from_env({})
    assert settings.max_text_chars == 2000
    assert settings.request_timeout_s == 30.0
    assert settings.lexicon_file is None
    assert settings.tts_voice_dir.name == "baker-zh"


def test_values_are_cast() -> None:
    settings = Settings.from_env({"PORT": " 8080 ", "REDIS_TIMEOUT_S": "0.5",
                                  "LEXICON_FILE": ""})
    assert (settings.port, settings.redis_timeout_s) == (8080, 0.5)


@pytest.mark.parametrize(("env", "raw", "message"), [
    ("PORT", "http", "PORT='http' is not an integer"),
    ("REDIS_TIMEOUT_S", "fast", "REDIS_TIMEOUT_S='fast' is not a number"),
    ("PORT", "0", "PORT='0' must be at least 1"),
    ("WORKERS", "65", "WORKERS='65' must be at most 64"),
    ("ENGINE", "torch", "ENGINE='torch' must be one of: onnx, sambert"),
])
def test_a_bad_value_names_the_variable(env: str, raw: str, message: str) -> None:
    with pytest.raises(SettingsError, match=f"^{re.escape(message)}$"):
        Settings.from_env({env: raw})


def test_a_named_file_must_exist(tmp_path: Path) -> None:
    missing = tmp_path / "lexicon.tsv"
    with pytest.raises(SettingsError, match=r"LEXICON_FILE=.* is not a readable file"):
        Settings.from_env({"LEXICON_FILE": str(missing)})
    missing.write_text("好\thao3\n", encoding="utf-8")
    assert Settings.from_env({"LEXICON_FILE": str(missing)}).lexicon_file == missing


def test_secrets_print_masked() -> None:
    masked = Settings.from_env({"REDIS_URL": "redis://:hunter2@db:6379/0"}).masked()
    assert masked["redis_url"] == "***"
    assert masked["admin_token"] == ""  # unset secrets stay visibly unset


def test_help_lists_every_setting(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--help"])
    assert exited.value.code == 0
    text = capsys.readouterr().out
    assert all(f"\n  {spec.env} (" in text for spec in SETTINGS)


def test_check_fails_with_status_2(monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("MAX_TEXT_CHARS", "-1")
    assert main(["--check"]) == 2
    assert "MAX_TEXT_CHARS='-1' must be at least 1" in capsys.readouterr().err
