"""Numerical checks that a rewritten graph still computes what the original did.

The entry points run these before writing a graph, so a rewrite that changes the
audio fails the build rather than shipping.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import onnx

from tts.voices.graph import check, constants, session
from tts.voices.vocoder_graph import DATA_INPUT


def without_activation_quant(model: onnx.ModelProto) -> onnx.ModelProto:
    """The original graph with its activation Q/DQ made identities: the float reference."""
    out = onnx.ModelProto()
    out.CopyFrom(model)
    consts = constants(out.graph)
    for node in out.graph.node:
        if node.op_type in ("QuantizeLinear", "DequantizeLinear") and node.input[0] not in consts:
            del node.input[1:]
            node.op_type = "Identity"
    return out


def acoustic_feed(ids: Iterable[int]) -> dict[str, np.ndarray]:
    """Inputs of the acoustic graph for one symbol-id sequence at neutral prosody."""
    one = np.array([1.0], np.float32)
    return {"input_ids": np.array([list(ids)], np.int32),
            "speaker_ids": np.array([0], np.int32),
            "speed_ratios": one, "f0_ratios": one, "energy_ratios": one}


def compare(ref: onnx.ModelProto | str, new: onnx.ModelProto | str,
            feeds: list[dict[str, np.ndarray]], tol: float, output: int = 0,
            exact: bool = False) -> float:
    """Max abs difference of one output over several inputs; PatternError above tol."""
    a, b = session(ref, exact=exact), session(new, exact=exact)
    worst = 0.0
    for feed in feeds:
        ra, rb = a.run(None, feed)[output], b.run(None, feed)[output]
        check(ra.shape == rb.shape, f"shape changed: {ra.shape} vs {rb.shape}")
        worst = max(worst, float(np.max(np.abs(ra.astype(np.float64) - rb))))
    check(worst <= tol, f"outputs differ by {worst:.3g} > {tol:.3g}")
    return worst


def random_mels(frames: Iterable[int], seed: int = 1) -> list[dict[str, np.ndarray]]:
    """Random log-mel-like inputs for the vocoder equivalence check."""
    rng = np.random.default_rng(seed)
    return [{DATA_INPUT: rng.normal(-1.0, 1.5, (1, t, 80)).astype(np.float32)} for t in frames]
