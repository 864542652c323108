"""The README's settings table is generated from the settings definitions."""

from __future__ import annotations

from pathlib import Path

from config import markdown_table

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_settings_table_matches_the_code() -> None:
    assert markdown_table() in README.read_text(encoding="utf-8"), (
        "README settings table is stale: paste the output of `python -m config`"
    )


def test_readme_starts_with_the_two_commands() -> None:
    head = README.read_text(encoding="utf-8")[:1200]
    assert "make run" in head and "make test" in head
