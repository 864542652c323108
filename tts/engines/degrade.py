"""Degrade to CPU: one engine over two paths, an accelerator and a warmed CPU twin.

    DegradingEngine  the Engine protocol over (accelerator, cpu), driven by a DegradeMachine
    with_cpu_path    the wrapping, when the engine really runs on an accelerator
    NvmlUtilization  the GPU utilization signal

When work moves between the two, mode by mode, is `DegradeMachine`'s decision
(tts/engines/degrade_machine.py). A failed accelerator run is retried on the CPU in
every mode, so callers do not see it. Built by the worker only when the engine really
runs on an accelerator; on a CPU-only machine there is a single path and no wrapper.

The mode is the pod's (`pod_mode`, tts/pod.py): set through any worker, every
worker's engine follows it before its next run. Where `auto` has moved work stays
each worker's own decision, from its own signals.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

from config import Settings
from tts.emotions import Prosody
from tts.engines.base import AudioChunk, Engine, EngineError, SentenceAudio, VoiceInfo
from tts.engines.degrade_machine import (
    CPU,
    MODES,
    Clock,
    DegradeMachine,
    DegradePolicy,
    is_memory_error,
)
from tts.pod import PodMode
from tts.pool import native_lock

_LOGGER = logging.getLogger(__name__)

_pod_mode: PodMode | None = None


def pod_mode() -> PodMode:
    """The pod's degrade mode ("auto" until set), mapped once per process."""
    global _pod_mode
    if _pod_mode is None:
        _pod_mode = PodMode("degrade", MODES)
    return _pod_mode


class DegradingEngine:
    """The Engine protocol over an accelerator engine and its warmed CPU twin.

    One per worker, created at start-up by `with_cpu_path`; called from every
    inference thread. `device` is where the next run goes.
    """

    def __init__(self, accelerator: Engine, cpu: Engine, policy: DegradePolicy, *,
                 queue_wait: Callable[[], float] = lambda: 0.0,
                 utilization: Callable[[], float | None] = lambda: None,
                 clock: Clock = time.monotonic, shared_mode: PodMode | None = None) -> None:
        if accelerator.model_hash != cpu.model_hash:
            raise EngineError("the accelerator and CPU paths must load the same model")
        self.accelerator = accelerator
        self.cpu = cpu
        self.machine = DegradeMachine(policy, clock)
        self.queue_wait = queue_wait
        self.utilization = utilization
        self.name = accelerator.name
        self.accelerator_device = accelerator.device
        self._device = accelerator.device
        self._lock = native_lock()  # taken on inference threads and in request greenlets
        self.shared_mode = shared_mode
        self._mode_version = 0  # of the shared mode this engine follows

    # --------------------------------------------------------- control (admin route)

    @property
    def device(self) -> str:
        """Where the next run goes (a recovery that is due shows at once)."""
        self._refresh()
        return self._device

    @device.setter
    def device(self, value: str) -> None:
        raise AttributeError("use set_mode to choose where synthesis runs")

    @property
    def degraded(self) -> bool:
        return self._refresh()

    def _refresh(self) -> bool:
        utilization = self.utilization()
        with self._lock:
            self._follow()
            self.machine.use_cpu(utilization)
            self._sync()
            return self.machine.on_cpu

    def set_mode(self, mode: str) -> None:
        """Set the mode: the pod's when it is shared, this engine's own otherwise."""
        with self._lock:
            if self.shared_mode is None:
                self.machine.set_mode(mode)
            else:
                self.shared_mode.set(mode)
                self._follow()
            self._sync()

    def _follow(self) -> None:
        """Take up the pod's mode if it changed since last seen (a memory read); the
        caller holds the lock."""
        if self.shared_mode is None:
            return
        version, mode = self.shared_mode.read()
        if version != self._mode_version:
            self._mode_version = version
            self.machine.set_mode(mode)

    def state(self) -> dict[str, Any]:
        utilization = self.utilization()
        with self._lock:
            self._follow()
            self.machine.use_cpu(utilization)  # let a due recovery show
            self._sync()
            return {"mode": self.machine.mode, "device": self._device,
                    "degraded": self.machine.on_cpu, "reason": self.machine.reason,
                    "since_s": round(self.machine.clock() - self.machine.since, 3),
                    "accelerator": self.accelerator_device,
                    "switches": sum(self.machine.switches.values())}

    def switch_counts(self) -> dict[tuple[str, str], int]:
        with self._lock:
            return dict(self.machine.switches)

    def _sync(self) -> None:
        self._device = CPU if self.machine.on_cpu else self.accelerator_device

    # --------------------------------------------------------- routing

    def _route(self) -> bool:
        """True: run on the CPU. Reads the load signals before an accelerator run."""
        utilization = self.utilization()
        with self._lock:
            self._follow()
            if not self.machine.use_cpu(utilization):
                self.machine.observe_load(self.queue_wait(), utilization)
            self._sync()
            return self.machine.on_cpu

    def _failed(self, exc: Exception) -> None:
        memory = is_memory_error(exc)
        _LOGGER.warning("degrade: accelerator run failed (%s: %s); retrying on the CPU",
                        type(exc).__name__, exc)
        with self._lock:
            self.machine.observe_failure(memory)
            self._sync()

    def _succeeded(self) -> None:
        with self._lock:
            self.machine.observe_success()

    # --------------------------------------------------------- Engine protocol

    @property
    def sample_rate(self) -> int:
        return self.cpu.sample_rate

    @property
    def model_hash(self) -> str:
        return self.cpu.model_hash

    def voices(self) -> list[VoiceInfo]:
        return self.accelerator.voices()

    def symbol_tables(self) -> tuple[dict[str, int], dict[str, list[str]]]:
        return self.cpu.symbol_tables()

    def warm_up(self) -> float:
        """Warm both paths: the CPU must be ready the moment work moves to it."""
        return self.accelerator.warm_up() + self.cpu.warm_up()

    def synthesize(self, voice: str, text: str, ids: list[int], prosody: Prosody) -> SentenceAudio:
        if not self._route():
            try:
                result = self.accelerator.synthesize(voice, text, ids, prosody)
            except Exception as exc:  # the CPU path answers instead
                self._failed(exc)
            else:
                self._succeeded()
                return result
        return self.cpu.synthesize(voice, text, ids, prosody)

    def stream(self, voice: str, text: str, ids: list[int], prosody: Prosody, *,
               whole: bool = False) -> Iterator[AudioChunk]:
        if not self._route():
            started = False
            try:
                for item in self.accelerator.stream(voice, text, ids, prosody, whole=whole):
                    started = True
                    yield item
            except Exception as exc:
                self._failed(exc)
                if started:  # audio already left: the stream cannot switch voices midway
                    raise EngineError(f"accelerator failed mid-sentence: {exc}") from exc
            else:
                self._succeeded()
                return
        yield from self.cpu.stream(voice, text, ids, prosody, whole=whole)


# ------------------------------------------------------------------ construction


def with_cpu_path(engine: Engine, settings: Settings, load: Callable[[Settings], Engine],
                  queue_wait: Callable[[], float]) -> Engine:
    """`engine` itself when it runs on the CPU; else a DegradingEngine with a CPU twin."""
    if engine.device == CPU:
        return engine
    cpu = load(replace(settings, device="cpu"))
    _LOGGER.info("degrade: %s engine on %s with a CPU path beside it", engine.name,
                 engine.device)
    return DegradingEngine(engine, cpu, DegradePolicy.from_settings(settings),
                           queue_wait=queue_wait, utilization=NvmlUtilization(),
                           shared_mode=pod_mode())


class NvmlUtilization:
    """GPU 0 utilization in percent via NVML, read at most once a second; None if unreadable."""

    def __init__(self, min_interval_s: float = 1.0) -> None:
        self.min_interval_s = min_interval_s
        self._handle: Any = None
        self._broken = False
        self._last: tuple[float, float | None] = (-1e9, None)

    def __call__(self) -> float | None:
        now = time.monotonic()
        if self._broken or now - self._last[0] < self.min_interval_s:
            return self._last[1]
        try:
            import pynvml

            if self._handle is None:
                pynvml.nvmlInit()
                self._handle = pynvml.nvmlDeviceGetHandleByIndex(0)
            value: float | None = float(pynvml.nvmlDeviceGetUtilizationRates(self._handle).gpu)
        except Exception:  # no NVML here: that signal is simply absent
            self._broken = True
            value = None
        self._last = (now, value)
        return value
