"""Writes the clean vocoder graph: nodes, initializers, and conv parameters restated.

tf2onnx runs every conv1d as a conv2d with a singleton spatial axis. `NcwEmitter`
collects the new graph's nodes and restates such a conv's kernel and attributes for
a real conv1d on [N, C, W], or (rank 4) for a conv2d on [N, C, 1, W], whose NCHWc
kernels ONNX Runtime can use. What to emit is `tts.voices.vocoder_rewrite`'s call.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import onnx
from onnx import helper, numpy_helper

from tts.voices.graph import check


@dataclass
class NcwEmitter:
    """Collects the clean NCW graph while the original data path is walked."""

    rank4: bool = False  # emit [N, C, 1, W] conv2d instead of [N, C, W] conv1d
    nodes: list[onnx.NodeProto] = field(default_factory=list)
    inits: list[onnx.TensorProto] = field(default_factory=list)
    count: int = 0

    @property
    def t_axis(self) -> int:
        """The time axis of every emitted tensor."""
        return 3 if self.rank4 else 2

    def fresh(self, hint: str) -> str:
        """A unique tensor name; short names keep the file readable."""
        self.count += 1
        return f"{hint}_{self.count}"

    def const(self, hint: str, value: np.ndarray) -> str:
        """Store a constant as an initializer and return its name."""
        name = self.fresh(hint)
        self.inits.append(numpy_helper.from_array(value, name))
        return name

    def node(self, op: str, inputs: list[str], hint: str, **attrs: Any) -> str:
        """Append one node with a single output and return that output's name."""
        out = self.fresh(hint)
        self.nodes.append(helper.make_node(op, inputs, [out], name=out, **attrs))
        return out

    def kernel(self, weight: np.ndarray, t: int) -> np.ndarray:
        """A conv2d kernel with the singleton axis dropped (rank 3) or moved first (rank 4)."""
        k1d = np.ascontiguousarray(weight.take(0, 2 + 1 - t))
        return k1d[:, :, None, :] if self.rank4 else k1d

    def widen(self, attrs: dict[str, Any]) -> dict[str, Any]:
        """1-D conv attributes, as 2-D ones with a trivial leading axis when rank 4."""
        if not self.rank4:
            return attrs
        out: dict[str, Any] = {}
        for key, value in attrs.items():
            vals = list(value)
            neutral = 0 if key in ("pads", "output_padding") else 1
            out[key] = ([0, vals[0], 0, vals[1]] if key == "pads"
                        else vals if key == "group" else [neutral, *vals])
        if "group" in attrs:
            out["group"] = attrs["group"]
        return out


def conv1d_attrs(attrs: dict[str, Any], t: int, where: str) -> dict[str, list[int]]:
    """Keep the time-axis entries of 2-D conv attributes; the other axis must be trivial."""
    neutral = {"strides": 1, "dilations": 1, "output_padding": 0}
    out: dict[str, list[int]] = {}
    for key, value in attrs.items():
        if key not in (*neutral, "pads"):
            continue
        vals = [int(v) for v in value]
        if key == "pads":
            check(vals[1 - t] == 0 and vals[3 - t] == 0, f"{where}: pads on singleton axis")
            out[key] = [vals[t], vals[2 + t]]
        else:
            check(vals[1 - t] == neutral[key], f"{where}: {key} on singleton axis")
            out[key] = [vals[t]]
    return out
