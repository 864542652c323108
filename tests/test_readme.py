"""The README and docs/ stay short, linked and in step with the code.

The settings table in docs/configuration.md is generated from the settings
definitions (`python -m config --readme docs/configuration.md` rewrites it).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from config import markdown_table

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
CONFIGURATION = ROOT / "docs" / "configuration.md"
DOCS = [README, *sorted((ROOT / "docs").glob("*.md"))]

# [text](target) with a relative target; the part after '#' is a heading anchor.
_LINK = re.compile(r"\[[^\]]*\]\((?!https?://|mailto:)([^)#\s]+)(?:#([^)\s]*))?\)")


def anchors(page: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces as hyphens."""
    headings = re.findall(r"^#+ (.+)$", page.read_text(encoding="utf-8"), re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}


def test_configuration_settings_table_matches_the_code() -> None:
    assert markdown_table() in CONFIGURATION.read_text(encoding="utf-8"), (
        "docs/configuration.md settings table is stale: run "
        "`python -m config --readme docs/configuration.md`"
    )


def test_every_setting_is_in_the_configuration_table() -> None:
    from config.settings import SETTINGS

    text = CONFIGURATION.read_text(encoding="utf-8")
    missing = [s.env for s in SETTINGS if f"| `{s.env}` |" not in text]
    assert not missing, f"settings missing from docs/configuration.md: {missing}"


def test_readme_starts_with_the_two_commands() -> None:
    head = README.read_text(encoding="utf-8")[:1200]
    assert "make run" in head and "make test" in head


def test_readme_is_a_five_minute_read() -> None:
    lines = README.read_text(encoding="utf-8").count("\n")
    assert lines < 200, f"README.md has {lines} lines; move reference material to docs/"


def test_readme_points_to_the_docs() -> None:
    text = README.read_text(encoding="utf-8")
    for doc in sorted((ROOT / "docs").glob("*.md")):
        assert f"docs/{doc.name}" in text, f"README does not link docs/{doc.name}"


@pytest.mark.parametrize("page", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(page: Path) -> None:
    broken = []
    for target, anchor in _LINK.findall(page.read_text(encoding="utf-8")):
        path = page.parent / target
        if not path.exists() or (anchor and path.suffix == ".md" and anchor not in anchors(path)):
            broken.append(f"{target}#{anchor}" if anchor else target)
    assert not broken, f"{page.relative_to(ROOT)} has broken links: {broken}"
