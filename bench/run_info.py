"""What the benchmark reports say about their run: the machine, and the code measured.

Kept apart from the drivers (bench/__main__.py imports bench/rtf.py, which needs these
too) and light to import: no ONNX Runtime, no plotting.
"""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path

from bench.load import ROOT


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine() -> str:
    """CPU count (and how many this process may use), CPU model, OS and kernel."""
    return (f"{os.cpu_count()} CPUs (nproc {len(os.sched_getaffinity(0))}), "
            f"{cpu_model()}, {platform.system()} {platform.release()}")


def git_commit() -> str:
    """HEAD of this checkout, short, and whether tracked files have uncommitted edits."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, text=True,
                              capture_output=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=ROOT, text=True, capture_output=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + (" (uncommitted edits present)" if dirty else "")
