"""Where synthesis runs, and why: the decisions of degrade to CPU, apart from any engine.

Modes: `gpu` always runs on the accelerator, `cpu` always on the CPU, `auto`
starts on the accelerator and moves to the CPU when it is saturated or failing:
a job that waited in the queue longer than `queue_wait_s`, GPU utilization over
`gpu_util` percent (when NVML is readable), a GPU out-of-memory error (at once)
or `failures` failed runs in a row. After `recovery_s` on the CPU it tries the
accelerator again.

`DegradeMachine` is pure, with its clock injected, so it is tested on a fake
clock; `tts.engines.degrade.DegradingEngine` feeds it signals and routes runs.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from config import Settings

_LOGGER = logging.getLogger(__name__)

MODES = ("auto", "cpu", "gpu")
CPU, ACCELERATOR = "cpu", "accelerator"
# Messages ONNX Runtime / CUDA / PyTorch use when device memory runs out.
_MEMORY_ERROR_MARKS = ("out of memory", "cuda_error_out_of_memory", "cudaerrormemoryallocation",
                       "failed to allocate memory", "bfcarena")

Clock = Callable[[], float]


@dataclass(frozen=True)
class DegradePolicy:
    queue_wait_s: float = 2.0
    gpu_util: float = 90.0
    failures: int = 3
    recovery_s: float = 60.0

    @classmethod
    def from_settings(cls, settings: Settings) -> DegradePolicy:
        return cls(settings.degrade_queue_wait_s, settings.degrade_gpu_util,
                   settings.degrade_failures, settings.degrade_recovery_s)


def is_memory_error(exc: BaseException) -> bool:
    text = f"{type(exc).__name__}: {exc}".lower()
    return any(mark in text for mark in _MEMORY_ERROR_MARKS)


class DegradeMachine:
    """Where work runs, and why. Not thread-safe: `DegradingEngine` holds a lock around it."""

    def __init__(self, policy: DegradePolicy, clock: Clock = time.monotonic) -> None:
        self.policy = policy
        self.clock = clock
        self.mode = "auto"
        self.on_cpu = False
        self.reason = "start"
        self.since = clock()
        self.failures = 0
        self.switches: Counter[tuple[str, str]] = Counter()  # (to, reason) -> count

    def _move(self, to_cpu: bool, reason: str) -> None:
        self.reason, self.since, self.failures = reason, self.clock(), 0
        if to_cpu == self.on_cpu:
            return
        self.on_cpu = to_cpu
        where = CPU if to_cpu else ACCELERATOR
        self.switches[(where, reason)] += 1
        _LOGGER.warning("degrade: synthesis moves to the %s (mode %s, reason %s)",
                        where, self.mode, reason)

    def set_mode(self, mode: str) -> None:
        """Force `cpu` or `gpu`, or hand control back to `auto` (starts on the accelerator)."""
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
        self.mode = mode
        self._move(mode == "cpu", "forced" if mode != "auto" else "auto")

    def use_cpu(self, utilization: float | None = None) -> bool:
        """Before a run: where it goes. In `auto`, recovers after `recovery_s` on the CPU."""
        if (self.mode == "auto" and self.on_cpu
                and self.clock() - self.since >= self.policy.recovery_s):
            if utilization is not None and utilization > self.policy.gpu_util:
                self.since = self.clock()  # still busy: wait another recovery period
            else:
                self._move(False, "recovered")
        return self.on_cpu

    def observe_load(self, queue_wait_s: float, utilization: float | None) -> None:
        """Saturation signals seen just before an accelerator run."""
        if self.mode != "auto" or self.on_cpu:
            return
        if queue_wait_s > self.policy.queue_wait_s:
            self._move(True, "queue-wait")
        elif utilization is not None and utilization > self.policy.gpu_util:
            self._move(True, "gpu-utilization")

    def observe_failure(self, memory: bool) -> None:
        self.failures += 1
        if self.mode != "auto" or self.on_cpu:
            return
        if memory:
            self._move(True, "gpu-memory")
        elif self.failures >= self.policy.failures:
            self._move(True, "failures")

    def observe_success(self) -> None:
        self.failures = 0
