"""The built voice on disk: its manifest (`voice.json`) and integrity check.

A voice directory holds `acoustic.onnx`, `vocoder.onnx` and `voice.json`. The
manifest is written last during a build, and it records the sha256 of every
model file, so a directory whose files do not match it is never used.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MANIFEST = "voice.json"
MANIFEST_VERSION = 1


class VoiceError(RuntimeError):
    """The voice directory is missing, partial or corrupt."""


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file, read in blocks so large models do not fill memory."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class Voice:
    """What the engine and the front end need to know about one built voice."""

    directory: Path
    name: str
    language: str
    sample_rate: int
    hop_size: int
    num_mels: int
    emotions: tuple[str, ...]
    symbol_to_id: dict[str, int]
    pinyin_dict: dict[str, list[str]]
    model_files: dict[str, str]  # role ("acoustic", "vocoder") -> file name
    model_hash: str  # one hash over all model files: a new model never reuses old cache entries
    provenance: dict[str, Any]

    def model_path(self, role: str) -> Path:
        return self.directory / self.model_files[role]

    @classmethod
    def load(cls, directory: Path, *, verify: bool = True) -> Voice:
        """Read the manifest; with `verify`, also check every model file's sha256."""
        data = read_manifest(directory)
        models = data["models"]
        if verify:
            for role, entry in models.items():
                path = directory / entry["file"]
                if not path.is_file():
                    raise VoiceError(f"voice at {directory}: {role} model {path.name} is missing")
                if sha256_of(path) != entry["sha256"]:
                    raise VoiceError(f"voice at {directory}: {path.name} does not match its sha256")
        return cls(
            directory=directory,
            name=data["name"],
            language=data["language"],
            sample_rate=int(data["sample_rate"]),
            hop_size=int(data["hop_size"]),
            num_mels=int(data["num_mels"]),
            emotions=tuple(data["emotions"]),
            symbol_to_id={k: int(v) for k, v in data["symbol_to_id"].items()},
            pinyin_dict={k: list(v) for k, v in data["pinyin_dict"].items()},
            model_files={role: entry["file"] for role, entry in models.items()},
            model_hash=combined_hash(models),
            provenance=data.get("provenance", {}),
        )


def combined_hash(models: dict[str, dict[str, str]]) -> str:
    """A short, stable id of the exact model files of a voice."""
    joined = "|".join(f"{role}={models[role]['sha256']}" for role in sorted(models))
    return hashlib.sha256(joined.encode()).hexdigest()[:16]


def read_manifest(directory: Path) -> dict[str, Any]:
    path = directory / MANIFEST
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise VoiceError(
            f"no voice at {directory} (missing {MANIFEST}); build it with `python -m tts.voices`"
        ) from exc
    except (OSError, ValueError) as exc:
        raise VoiceError(f"voice manifest {path} is unreadable: {exc}") from exc
    if not isinstance(data, dict) or data.get("manifest_version") != MANIFEST_VERSION:
        raise VoiceError(f"voice manifest {path} has an unknown format; rebuild the voice")
    return data


def is_valid(directory: Path) -> bool:
    """True when the directory holds a complete voice whose files match the manifest."""
    try:
        Voice.load(directory, verify=True)
    except (VoiceError, KeyError, TypeError, ValueError):
        return False
    return True
