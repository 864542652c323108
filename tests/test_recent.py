"""tts/recent.py: the bounded map behind the plan memo and the cache-hit path."""

from __future__ import annotations

import pytest

from tts.recent import Recent


def test_least_recently_used_goes_first() -> None:
    recent: Recent[str, int] = Recent(2)
    recent.put("a", 1)
    recent.put("b", 2)
    assert recent.get("a") == 1  # "a" is now the most recent
    recent.put("c", 3)
    assert (recent.get("a"), recent.get("b"), recent.get("c")) == (1, None, 3)
    assert len(recent) == 2


def test_put_replaces_and_refreshes() -> None:
    recent: Recent[str, int] = Recent(2)
    recent.put("a", 1)
    recent.put("b", 2)
    recent.put("a", 10)
    recent.put("c", 3)
    assert (recent.get("a"), recent.get("b")) == (10, None)


def test_falsy_values_are_values() -> None:
    recent: Recent[str, int] = Recent(1)
    recent.put("zero", 0)
    assert recent.get("zero") == 0


def test_size_must_be_positive() -> None:
    with pytest.raises(ValueError, match="maxsize"):
        Recent(0)
