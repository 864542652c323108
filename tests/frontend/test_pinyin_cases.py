"""Data-driven pinyin checks: every case in pinyin_cases.tsv must pass."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tts.frontend import Frontend

CASES_FILE = Path(__file__).with_name("pinyin_cases.tsv")


def _unescape(text: str) -> str:
    """Allow \\xNN in the case file for control characters."""
    return re.sub(r"\\x([0-9a-fA-F]{2})", lambda m: chr(int(m[1], 16)), text)


def _load_cases() -> list[Any]:
    cases = []
    for lineno, line in enumerate(CASES_FILE.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        text, expected = line.split("\t")
        cases.append(pytest.param(_unescape(text), expected.strip(), id=f"L{lineno}-{text}"))
    return cases


CASES = _load_cases()


def test_case_file_is_large_enough() -> None:
    assert len(CASES) >= 150


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_pinyin(frontend: Frontend, text: str, expected: str) -> None:
    got = " ".join(p for s in frontend.analyze(text) for p in s.pinyin)
    assert got == expected
