"""ONNX Runtime's optimized graphs kept on disk, so that a worker maps them instead of
building them again.

Creating a session from the voice's graph optimizes it (the bulk of a session's start
time) and leaves every weight in the worker's private memory. Saved once after
optimization, with the weights in their own file at page-aligned offsets, the graph
loads later without being optimized again and its weights are memory-mapped from that
file: every worker on the machine then reads the same page-cache pages instead of
holding a private copy each. The saved graph computes the same output, bit for bit.

An entry is keyed by the model (the voice's hash over its model files and the file
name), the ONNX Runtime version and the CPU: a graph optimized at the highest level
may use instructions of the CPU it was optimized on. It is written to a temporary
directory and renamed into place, so that no reader ever sees half of one. When the
cache cannot be written or read, sessions are built from the voice's graph as before.
"""

from __future__ import annotations

import hashlib
import logging
import platform
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import onnxruntime as ort

from config import cache_dir

_LOGGER = logging.getLogger(__name__)

GRAPH = "graph.onnx"
WEIGHTS = "weights.bin"
# Bump when what is saved, or how, changes: old entries are then never read again.
LAYOUT = "1"
# Tensors smaller than this stay inside the graph file (not worth a page of their own).
_MIN_EXTERNAL_BYTES = 1024
_ORT_ERROR_SEVERITY = 3


def cache_root() -> Path:
    """Where entries live: beside the built voices, under the user's cache directory."""
    return cache_dir() / "graphs"


def cpu_identity() -> str:
    """The CPU model and its instruction-set flags (what an optimized graph may rely on)."""
    try:
        model, flags = "", ""
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            name, _, value = line.partition(":")
            name = name.strip()
            if name == "model name" and not model:
                model = value.strip()
            elif name == "flags" and not flags:
                flags = value.strip()
            if model and flags:
                break
        return f"{model}|{flags}"
    except OSError:
        return f"{platform.machine()}|{platform.processor()}"


def entry_dir(root: Path, model: Path, model_hash: str) -> Path:
    key = "\n".join((LAYOUT, model_hash, model.name, ort.__version__, cpu_identity()))
    return root / f"{model.stem}-{hashlib.sha256(key.encode()).hexdigest()[:20]}"


def open_cached(model: Path, model_hash: str, options: Callable[[], ort.SessionOptions],
                providers: list[str], root: Path | None = None) -> ort.InferenceSession:
    """A session for `model` (options as `options()` makes them), from the cache when it
    has the graph, else built from `model` and saved there for the next worker."""
    entry = entry_dir(root or cache_root(), model, model_hash)
    if (entry / GRAPH).is_file():
        try:
            return _load_optimized(entry, options(), providers)
        except Exception as exc:  # a damaged entry: rebuild from the voice's graph
            _LOGGER.warning("graph cache: %s is unusable (%s): optimizing %s again",
                            entry, exc, model.name)
            shutil.rmtree(entry, ignore_errors=True)
    try:
        session = _optimize_and_save(model, entry, options(), providers)
    except Exception as exc:  # saving failed (a full disk, ...): build as if uncached
        _LOGGER.warning("graph cache: could not save %s (%s)", model.name, exc)
        return ort.InferenceSession(str(model), sess_options=options(), providers=providers)
    if (entry / GRAPH).is_file():
        # Map the weights from the saved file (shared) rather than keep the private copy.
        try:
            return _load_optimized(entry, options(), providers)
        except Exception as exc:
            _LOGGER.warning("graph cache: %s was saved but does not load (%s)", entry, exc)
    return session


def _load_optimized(entry: Path, options: ort.SessionOptions,
                    providers: list[str]) -> ort.InferenceSession:
    # Already optimized (at the level `options` asked for when it was saved).
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    return ort.InferenceSession(str(entry / GRAPH), sess_options=options, providers=providers)


def _optimize_and_save(model: Path, entry: Path, options: ort.SessionOptions,
                       providers: list[str]) -> ort.InferenceSession:
    """Build the session from the voice's graph; save the optimized graph into `entry`
    on the way if the cache can be written."""
    try:
        entry.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".saving-", dir=entry.parent))
        staging.chmod(0o755)  # readable by whoever may run the service from this cache
    except OSError as exc:
        _LOGGER.info("graph cache: %s is not writable (%s): sessions are built each time",
                     entry.parent, exc)
        return ort.InferenceSession(str(model), sess_options=options, providers=providers)
    try:
        options.optimized_model_filepath = str(staging / GRAPH)
        options.add_session_config_entry(
            "session.optimized_model_external_initializers_file_name", WEIGHTS)
        options.add_session_config_entry(
            "session.optimized_model_external_initializers_min_size_in_bytes",
            str(_MIN_EXTERNAL_BYTES))
        # Saving warns that the graph may hold CPU-specific kernels: the key says which CPU.
        options.log_severity_level = _ORT_ERROR_SEVERITY
        session = ort.InferenceSession(str(model), sess_options=options, providers=providers)
        try:
            staging.rename(entry)  # fails if another worker published the entry first
            _LOGGER.info("graph cache: saved %s optimized in %s", model.name, entry)
        except OSError:
            pass
        return session
    finally:
        shutil.rmtree(staging, ignore_errors=True)
