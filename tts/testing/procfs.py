"""Process facts read from /proc, so tests and benchmarks need no psutil."""

from __future__ import annotations

import math
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path


def _stat_fields(stat: str) -> list[str]:
    """/proc/<pid>/stat after "pid (comm) ": comm may hold spaces or parentheses.
    Index 0 is the state (field 3 in proc(5))."""
    return stat[stat.rindex(")") + 2:].split()


def children_of(pid: int) -> list[int]:
    """Live direct children of `pid`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # exited while we looked
            continue
        fields = _stat_fields(stat)
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(entry.name))
    return sorted(found)


def cpu_seconds(pids: Iterable[int]) -> float:
    """CPU time (user + system, all threads) the given processes have used so far;
    a process that is gone counts 0."""
    ticks = 0
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        fields = _stat_fields(stat)
        ticks += int(fields[11]) + int(fields[12])  # utime, stime: fields 14 and 15
    return ticks / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    """Resident set size of one process (MiB); nan if it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return math.nan


def loadavg() -> str:
    """The 1-, 5- and 15-minute load averages as 'a / b / c'."""
    return " / ".join(Path("/proc/loadavg").read_text().split()[:3])


@dataclass(frozen=True)
class Memory:
    """One process's memory from smaps_rollup, in bytes."""

    rss: int
    pss: int
    uss: int

    @classmethod
    def of(cls, pid: int) -> Memory:
        fields: dict[str, int] = {}
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
            name, _, rest = line.partition(":")
            parts = rest.split()
            if len(parts) == 2 and parts[1] == "kB":
                fields[name] = int(parts[0]) * 1024
        return cls(fields["Rss"], fields["Pss"],
                   fields["Private_Clean"] + fields["Private_Dirty"])
