"""Fold the acoustic model's int8 weight dequantization into float32 constants.

ONNX Runtime does not constant-fold DequantizeLinear, so it would run 53 of them on
every call; dequantizing once at build time keeps the numbers and drops the work.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper

from tts.voices.graph import constants, node_attrs, producers, prune


def fold_weight_dequant(model: onnx.ModelProto) -> int:
    """Replace DequantizeLinear of constant int8 weights by float32 initializers.

    int8 is only storage here; ORT would dequantize every weight on every call.
    Returns how many nodes were folded.
    """
    graph = model.graph
    consts = constants(graph)
    prod = producers(graph)
    keep, folded = [], 0
    for node in graph.node:
        if node.op_type != "DequantizeLinear":
            keep.append(node)
            continue
        gather = _fold_gathered_dequant(node, prod.get(node.input[0]), consts, graph)
        if gather is not None:
            keep.append(gather)
            folded += 1
            continue
        if not all(i in consts for i in node.input if i):
            keep.append(node)
            continue
        graph.initializer.append(numpy_helper.from_array(_dequantize(node, consts),
                                                         node.output[0]))
        folded += 1
    del graph.node[:]
    graph.node.extend(keep)
    prune(graph)
    return folded


def _fold_gathered_dequant(node: onnx.NodeProto, src: onnx.NodeProto | None,
                           consts: dict[str, np.ndarray],
                           graph: onnx.GraphProto) -> onnx.NodeProto | None:
    """Gather(int8 table) -> DequantizeLinear becomes Gather(float table): same values.

    Only valid for a per-tensor scale (elementwise, so it commutes with Gather).
    Returns a new Gather on a dequantized copy of the table that writes the DQ's
    output (the old Gather is left to pruning), or None when the pattern differs.
    """
    if src is None or src.op_type != "Gather" or src.input[0] not in consts:
        return None
    if not all(i in consts for i in node.input[1:] if i) or consts[node.input[1]].size != 1:
        return None
    table = f"{src.input[0]}_float"
    if table not in {t.name for t in graph.initializer}:
        fake = helper.make_node("DequantizeLinear", [src.input[0], *node.input[1:]], ["x"])
        graph.initializer.append(numpy_helper.from_array(_dequantize(fake, consts), table))
    return helper.make_node("Gather", [table, src.input[1]], [node.output[0]],
                            name=f"{src.name}_float", **node_attrs(src))


def _dequantize(node: onnx.NodeProto, consts: dict[str, np.ndarray]) -> np.ndarray:
    """(x - zero_point) * scale in float32, as ORT computes it, per-tensor or per-axis."""
    x = consts[node.input[0]]
    scale = consts[node.input[1]].astype(np.float32)
    zp = consts[node.input[2]] if len(node.input) > 2 and node.input[2] else np.zeros_like(scale)
    if scale.ndim == 1 and scale.size > 1:
        axis = int(node_attrs(node).get("axis", 1)) % x.ndim
        shape = [1] * x.ndim
        shape[axis] = -1
        scale, zp = scale.reshape(shape), zp.reshape(shape)
    diff = (x.astype(np.int32) - zp.astype(np.int32)).astype(np.float32)
    return (diff * scale).astype(np.float32)
