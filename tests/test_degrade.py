"""Degrade to CPU: the state machine on a fake clock, then the whole path through HTTP.

There is no GPU here. The accelerator path is `FaultInjectedAcceleratorEngine`, a
test-only wrapper around the real CPU ONNX engine that reports device "cuda" and
fails or slows down on demand; the CPU path is the real CPU ONNX engine. The
worker is handed them at its engine-loading boundary (`tts.worker.load_engine`),
so the production wrapping (`with_cpu_path`) and everything above it is real.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from flask import Flask
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families

from config import Settings
from tests.conftest import make_settings, started_app
from tts.emotions import Prosody
from tts.engines.base import AudioChunk, Engine, SentenceAudio, VoiceInfo
from tts.engines.degrade import DegradingEngine
from tts.engines.degrade_machine import MODES, DegradeMachine, DegradePolicy, is_memory_error
from tts.engines.onnx_engine import OnnxEngine
from tts.pod import PodMode

ADMIN = {"Authorization": "Bearer admin-secret"}
_counter = itertools.count()


class FaultInjectedAcceleratorEngine:
    """TEST ONLY: the real CPU engine posing as a CUDA path that fails or stalls on demand."""

    def __init__(self, inner: OnnxEngine) -> None:
        self.inner = inner
        self.name = inner.name
        self.device = "cuda"
        self.fail: Exception | None = None
        self.delay_s = 0.0
        self.calls = 0

    @property
    def sample_rate(self) -> int:
        return self.inner.sample_rate

    @property
    def model_hash(self) -> str:
        return self.inner.model_hash

    def voices(self) -> list[VoiceInfo]:
        return self.inner.voices()

    def symbol_tables(self) -> tuple[dict[str, int], dict[str, list[str]]]:
        return self.inner.symbol_tables()

    def warm_up(self) -> float:
        return self.inner.warm_up()

    def _inject(self) -> None:
        self.calls += 1
        if self.delay_s:
            time.sleep(self.delay_s)
        if self.fail is not None:
            raise self.fail

    def synthesize(self, voice: str, text: str, ids: list[int], prosody: Prosody) -> SentenceAudio:
        self._inject()
        return self.inner.synthesize(voice, text, ids, prosody)

    def stream(self, voice: str, text: str, ids: list[int], prosody: Prosody, *,
               whole: bool = False) -> Iterator[AudioChunk]:
        self._inject()
        yield from self.inner.stream(voice, text, ids, prosody, whole=whole)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def fresh_text() -> str:
    """A new sentence each call, so every request reaches the engine (no cache hit)."""
    digits = "".join("零一二三四五六七八九"[int(d)] for d in str(next(_counter)))
    return f"今天下午三点在会议室讨论第{digits}个新方案。"  # one sentence, one engine call


# ------------------------------------------------------------------ state machine


POLICY = DegradePolicy(queue_wait_s=0.5, gpu_util=90.0, failures=2, recovery_s=30.0)


def test_auto_moves_to_cpu_on_queue_wait_and_back_after_recovery() -> None:
    clock = FakeClock()
    machine = DegradeMachine(POLICY, clock)
    machine.observe_load(0.4, None)
    assert not machine.use_cpu()
    machine.observe_load(0.6, None)
    assert machine.use_cpu() and machine.reason == "queue-wait"
    clock.now += 29.9
    assert machine.use_cpu()
    clock.now += 0.2
    assert not machine.use_cpu() and machine.reason == "recovered"
    assert machine.switches == {("cpu", "queue-wait"): 1, ("accelerator", "recovered"): 1}


def test_high_utilization_moves_to_cpu_and_delays_recovery() -> None:
    clock = FakeClock()
    machine = DegradeMachine(POLICY, clock)
    machine.observe_load(0.0, 95.0)
    assert machine.use_cpu() and machine.reason == "gpu-utilization"
    clock.now += 31
    assert machine.use_cpu(utilization=97.0)  # still busy: stays, timer restarts
    clock.now += 31
    assert not machine.use_cpu(utilization=40.0)


def test_failures_in_a_row_move_to_cpu_and_a_success_resets_the_count() -> None:
    machine = DegradeMachine(POLICY, FakeClock())
    machine.observe_failure(memory=False)
    machine.observe_success()
    machine.observe_failure(memory=False)
    assert not machine.use_cpu()
    machine.observe_failure(memory=False)
    assert machine.use_cpu() and machine.reason == "failures"


def test_a_gpu_memory_error_moves_to_cpu_at_once() -> None:
    assert is_memory_error(RuntimeError("CUDA error: out of memory"))
    assert is_memory_error(RuntimeError("[ONNXRuntimeError] BFCArena::AllocateRawInternal "
                                        "Failed to allocate memory for requested buffer"))
    assert not is_memory_error(RuntimeError("shape mismatch"))
    machine = DegradeMachine(POLICY, FakeClock())
    machine.observe_failure(memory=True)
    assert machine.use_cpu() and machine.reason == "gpu-memory"


def test_forced_modes_ignore_signals_and_auto_starts_on_the_accelerator() -> None:
    clock = FakeClock()
    machine = DegradeMachine(POLICY, clock)
    machine.set_mode("cpu")
    clock.now += 1000
    assert machine.use_cpu()  # forced: no recovery
    machine.set_mode("gpu")
    machine.observe_load(10.0, 99.0)
    for _ in range(5):
        machine.observe_failure(memory=True)
    assert not machine.use_cpu()
    machine.set_mode("cpu")
    machine.set_mode("auto")
    assert not machine.use_cpu() and machine.reason == "auto"
    with pytest.raises(ValueError, match="mode must be one of"):
        machine.set_mode("tpu")


def test_failed_accelerator_runs_are_answered_by_the_cpu(engine: OnnxEngine) -> None:
    accelerator = FaultInjectedAcceleratorEngine(engine)
    wrapped = DegradingEngine(accelerator, engine, POLICY, clock=FakeClock())
    as_engine: Engine = wrapped  # mypy checks the wrapper against the Engine protocol
    assert as_engine.device == "cuda"
    ids = [engine.voice.symbol_to_id[s] for s in ("sil", "n", "i3", "#0", "h", "ao3", "sil",
                                                   "eos")]
    voice = engine.voice.name
    expected = engine.synthesize(voice, "", ids, Prosody()).audio
    accelerator.fail = RuntimeError("CUDA failure 700: illegal address")
    got = wrapped.synthesize(voice, "", ids, Prosody()).audio
    np.testing.assert_allclose(got, expected, atol=1e-6)
    assert wrapped.device == "cuda"  # one failure is not enough (failures=2)
    streamed = np.concatenate([c.audio for c in wrapped.stream(voice, "", ids, Prosody())])
    assert len(streamed) == len(expected)
    assert wrapped.device == "cpu" and wrapped.degraded
    assert wrapped.state()["reason"] == "failures"


# ------------------------------------------------------------------ through HTTP


@pytest.fixture(scope="module")
def fault_app(voice_dir: Path, engine: OnnxEngine) -> Iterator[tuple[Flask,
                                                                      FaultInjectedAcceleratorEngine]]:
    accelerator = FaultInjectedAcceleratorEngine(engine)

    def load_engine(settings: Settings) -> Any:
        return engine if settings.device == "cpu" else accelerator

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("tts.worker.load_engine", load_engine)
        # Recovery takes 3 s: a degraded request and the checks after it must finish
        # inside it even on a loaded machine (1 s was not always enough).
        app = started_app(make_settings(
            voice_dir, device="auto", admin_token="admin-secret", degrade_failures=2,
            degrade_queue_wait_s=0.25, degrade_recovery_s=3.0, inference_threads=1,
            queue_size=16, queue_wait_s=60.0, cache_memory_bytes=0))
    yield app, accelerator
    app.extensions["tts"].close()


@pytest.fixture()
def faults(fault_app: tuple[Flask, FaultInjectedAcceleratorEngine]) -> Iterator[
        tuple[FlaskClient, FaultInjectedAcceleratorEngine]]:
    app, accelerator = fault_app
    client = app.test_client()
    accelerator.fail, accelerator.delay_s = None, 0.0
    assert client.post("/admin/degrade", json={"mode": "auto"}, headers=ADMIN).status_code == 200
    yield client, accelerator
    accelerator.fail, accelerator.delay_s = None, 0.0


def speak(client: FlaskClient) -> str:
    response = client.post("/api/tts", json={"text": fresh_text()})
    assert response.status_code == 200, response.get_json()
    assert response.headers["X-Cache"] == "miss"
    return response.headers["X-Device"]


def switches(client: FlaskClient) -> dict[tuple[str, str], float]:
    text = client.get("/metrics").get_data(as_text=True)
    found: dict[tuple[str, str], float] = {}
    for family in text_string_to_metric_families(text):
        if family.name == "tts_degrade_switches":
            for sample in family.samples:
                if sample.name.endswith("_total"):
                    found[(sample.labels["to"], sample.labels["reason"])] = sample.value
    return found


def degraded_gauge(client: FlaskClient) -> float:
    text = client.get("/metrics").get_data(as_text=True)
    for family in text_string_to_metric_families(text):
        if family.name == "tts_degraded":
            return family.samples[0].value
    raise AssertionError("no tts_degraded")


def readyz(client: FlaskClient) -> dict[str, Any]:
    body: dict[str, Any] = client.get("/readyz").get_json()
    return body


def test_forced_cpu_and_gpu_through_the_admin_route(
        faults: tuple[FlaskClient, FaultInjectedAcceleratorEngine]) -> None:
    client, accelerator = faults
    assert speak(client) == "cuda"
    assert readyz(client)["degraded"] is False and readyz(client)["device"] == "cuda"
    before = switches(client)
    state = client.post("/admin/degrade", json={"mode": "cpu"}, headers=ADMIN).get_json()
    assert state["mode"] == "cpu" and state["device"] == "cpu" and state["degraded"] is True
    assert state["accelerator"] == "cuda" and state["reason"] == "forced"
    calls = accelerator.calls
    assert speak(client) == "cpu"
    assert accelerator.calls == calls  # the accelerator was not used
    ready = readyz(client)
    assert ready["degraded"] is True and ready["device"] == "cpu"
    assert degraded_gauge(client) == 1
    assert switches(client)[("cpu", "forced")] == before[("cpu", "forced")] + 1
    read = client.get("/admin/degrade", headers=ADMIN).get_json()
    assert read["mode"] == "cpu" and read["degraded"] is True
    state = client.post("/admin/degrade", json={"mode": "gpu"}, headers=ADMIN).get_json()
    assert state["device"] == "cuda" and state["degraded"] is False
    assert speak(client) == "cuda"
    assert degraded_gauge(client) == 0


def test_failing_accelerator_degrades_then_recovers(
        faults: tuple[FlaskClient, FaultInjectedAcceleratorEngine]) -> None:
    client, accelerator = faults
    before = switches(client)
    accelerator.fail = RuntimeError("CUDA failure 999: unknown error")
    assert speak(client) == "cuda"  # first failure: answered by the CPU, still on cuda
    assert speak(client) == "cpu"  # second in a row (DEGRADE_FAILURES=2): moved
    assert readyz(client)["degraded"] is True
    assert client.get("/admin/degrade", headers=ADMIN).get_json()["reason"] == "failures"
    assert switches(client)[("cpu", "failures")] == before[("cpu", "failures")] + 1
    accelerator.fail = None
    calls = accelerator.calls
    assert speak(client) == "cpu" and accelerator.calls == calls  # inside the recovery period
    time.sleep(3.1)  # DEGRADE_RECOVERY_S=3
    assert readyz(client)["degraded"] is False
    assert speak(client) == "cuda"
    assert accelerator.calls == calls + 1
    assert switches(client)[("accelerator", "recovered")] >= before[("accelerator",
                                                                     "recovered")] + 1


def test_gpu_memory_error_degrades_at_once(
        faults: tuple[FlaskClient, FaultInjectedAcceleratorEngine]) -> None:
    client, accelerator = faults
    before = switches(client)
    accelerator.fail = RuntimeError("[ONNXRuntimeError] : 6 : RUNTIME_EXCEPTION : CUDA "
                                    "failure 2: out of memory")
    assert speak(client) == "cpu"
    assert client.get("/admin/degrade", headers=ADMIN).get_json()["reason"] == "gpu-memory"
    assert switches(client)[("cpu", "gpu-memory")] == before[("cpu", "gpu-memory")] + 1


def test_saturated_accelerator_queue_degrades(
        faults: tuple[FlaskClient, FaultInjectedAcceleratorEngine],
        fault_app: tuple[Flask, FaultInjectedAcceleratorEngine]) -> None:
    client, accelerator = faults
    app = fault_app[0]
    before = switches(client)
    # one inference thread: the second job waits > 0.25 s, even on a busy machine
    accelerator.delay_s = 1.0
    barrier = threading.Barrier(3)

    def one(_: int) -> str:
        local = app.test_client()
        barrier.wait()
        response = local.post("/api/tts", json={"text": fresh_text()})
        assert response.status_code == 200
        return response.headers["X-Device"]

    with ThreadPoolExecutor(3) as pool:
        devices = list(pool.map(one, range(3)))
    assert "cpu" in devices, devices
    state = client.get("/admin/degrade", headers=ADMIN).get_json()
    assert state["reason"] == "queue-wait" and state["degraded"] is True
    assert switches(client)[("cpu", "queue-wait")] == before[("cpu", "queue-wait")] + 1


def test_every_engine_of_the_pod_follows_one_set_mode(engine: OnnxEngine,
                                                      tmp_path: Path) -> None:
    # Two workers' engines over one pod directory, as gunicorn's workers see it.
    first, second = (DegradingEngine(FaultInjectedAcceleratorEngine(engine), engine,
                                     DegradePolicy(), shared_mode=PodMode("degrade", MODES,
                                                                          tmp_path))
                     for _ in range(2))
    assert first.device == second.device == "cuda"
    first.set_mode("cpu")
    assert second.device == "cpu" and second.state()["reason"] == "forced"
    second.set_mode("auto")
    assert first.device == "cuda" and first.state()["mode"] == "auto"
    late = DegradingEngine(FaultInjectedAcceleratorEngine(engine), engine, DegradePolicy(),
                           shared_mode=PodMode("degrade", MODES, tmp_path))
    first.set_mode("cpu")
    assert late.device == "cpu"  # a worker started later takes up the pod's mode


def test_single_path_worker_says_so(voice_dir: Path) -> None:
    app = started_app(make_settings(voice_dir, device="cpu", admin_token="admin-secret"))
    try:
        client = app.test_client()
        state = client.post("/admin/degrade", json={"mode": "cpu"}, headers=ADMIN).get_json()
        assert state["mode"] == "cpu" and state["device"] == "cpu"
        state = client.get("/admin/degrade", headers=ADMIN).get_json()
        assert state["mode"] == "cpu" and state["accelerator"] is None
        assert state["degraded"] is False
        refused = client.post("/admin/degrade", json={"mode": "gpu"}, headers=ADMIN)
        assert refused.status_code == 400
        assert "no accelerator" in refused.get_json()["error"]["message"]
        assert client.post("/admin/degrade", json={"mode": "auto"},
                           headers=ADMIN).status_code == 200
        bad = client.post("/admin/degrade", json={"mode": "fast"}, headers=ADMIN)
        assert bad.status_code == 400 and "mode" in bad.get_json()["error"]["message"]
    finally:
        app.extensions["tts"].close()
