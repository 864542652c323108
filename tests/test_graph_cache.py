"""Optimized graphs saved once and mapped by every later session (tts.engines.graph_cache)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort

from tts.engines.graph_cache import GRAPH, WEIGHTS, entry_dir, open_cached
from tts.engines.onnx_engine import CPU, session_options
from tts.voices import Voice


def sessions(voice: Voice, root: Path | None) -> tuple[ort.InferenceSession, ...]:
    """Acoustic model and vocoder: through the cache in `root`, or built as without one."""
    out = []
    for role in ("acoustic", "vocoder"):
        path = voice.model_path(role)
        if root is None:
            out.append(ort.InferenceSession(str(path), sess_options=session_options(2),
                                            providers=[CPU]))
        else:
            out.append(open_cached(path, voice.model_hash, lambda: session_options(2), [CPU],
                                   root))
    return tuple(out)


def speak(voice: Voice, acoustic: ort.InferenceSession,
          vocoder: ort.InferenceSession) -> np.ndarray:
    ids = [voice.symbol_to_id[s] for s in ("sil", "n", "i3", "#1", "h", "ao3", "#3", "sil", "eos")]
    mel = acoustic.run(None, {
        "input_ids": np.asarray([ids], dtype=np.int32),
        "speaker_ids": np.zeros(1, dtype=np.int32),
        "speed_ratios": np.ones(1, dtype=np.float32),
        "f0_ratios": np.ones(1, dtype=np.float32),
        "energy_ratios": np.ones(1, dtype=np.float32),
    })[1]
    audio: np.ndarray = vocoder.run(None, {"mels": mel})[0]
    return audio


def test_saved_graphs_speak_exactly_as_the_voices_own(voice: Voice, tmp_path: Path) -> None:
    expected = speak(voice, *sessions(voice, None))
    first = speak(voice, *sessions(voice, tmp_path))  # optimizes and saves
    for role in ("acoustic", "vocoder"):
        entry = entry_dir(tmp_path, voice.model_path(role), voice.model_hash)
        assert (entry / GRAPH).is_file() and (entry / WEIGHTS).stat().st_size > 1_000_000
    assert not list(tmp_path.glob(".saving-*"))
    again = speak(voice, *sessions(voice, tmp_path))  # loads what was saved
    assert np.array_equal(first, expected) and np.array_equal(again, expected)


def test_a_damaged_entry_is_rebuilt(voice: Voice, tmp_path: Path) -> None:
    expected = speak(voice, *sessions(voice, tmp_path))
    entry = entry_dir(tmp_path, voice.model_path("acoustic"), voice.model_hash)
    (entry / GRAPH).write_bytes(b"not a graph")
    assert np.array_equal(speak(voice, *sessions(voice, tmp_path)), expected)
    assert (entry / GRAPH).stat().st_size > 1000  # saved again


def test_an_unwritable_cache_builds_sessions_as_before(voice: Voice, tmp_path: Path) -> None:
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    expected = speak(voice, *sessions(voice, None))
    assert np.array_equal(speak(voice, *sessions(voice, blocked / "graphs")), expected)


def test_entries_differ_by_model(voice: Voice, tmp_path: Path) -> None:
    path = voice.model_path("acoustic")
    assert entry_dir(tmp_path, path, voice.model_hash) == entry_dir(tmp_path, path,
                                                                     voice.model_hash)
    assert entry_dir(tmp_path, path, voice.model_hash) != entry_dir(tmp_path, path, "other")
    assert entry_dir(tmp_path, path, voice.model_hash) != entry_dir(
        tmp_path, voice.model_path("vocoder"), voice.model_hash)
