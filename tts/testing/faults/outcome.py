"""What a fault scenario reports: its figures and the expectations it broke, with the
figures every scenario records (answers by status, worker memory)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from tts.testing.gunicorn_server import GunicornServer
from tts.testing.load import Result
from tts.testing.procfs import rss_mb


@dataclass
class Outcome:
    """What one scenario measured, and which expectations it broke (empty: passed)."""

    name: str
    figures: dict[str, Any] = field(default_factory=dict)
    violations: list[str] = field(default_factory=list)

    def expect(self, ok: bool, message: str) -> None:
        if not ok:
            self.violations.append(message)

    @property
    def passed(self) -> bool:
        return not self.violations


def statuses(results: Sequence[Result]) -> dict[str, int]:
    return dict(sorted(Counter(str(r.status) if r.status else f"error:{r.error}"
                               for r in results).items()))


def worker_rss(server: GunicornServer) -> list[float]:
    return [round(rss_mb(pid), 1) for pid in server.worker_pids()]
