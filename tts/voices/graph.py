"""Generic ONNX graph helpers for the build-time rewrites: read, walk, run and tidy a graph.

Each rewrite module checks its assumptions with `check`, so a graph that is not what
a rewrite was written for raises `PatternError` instead of becoming a wrong voice.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
from onnx import helper, numpy_helper


class PatternError(RuntimeError):
    """The graph does not have the shape this rewrite was written for."""


def check(cond: bool, msg: str) -> None:
    """Fail loudly: a rewrite on a misunderstood graph must never be written out."""
    if not cond:
        raise PatternError(msg)


def node_attrs(node: onnx.NodeProto) -> dict[str, Any]:
    """Node attributes as plain Python values, for pattern checks."""
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def constants(graph: onnx.GraphProto) -> dict[str, np.ndarray]:
    """Initializers and Constant-node outputs: the values known before run time."""
    out = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant":
            value = node_attrs(node).get("value")
            check(isinstance(value, onnx.TensorProto), f"unsupported Constant {node.name}")
            assert isinstance(value, onnx.TensorProto)
            out[node.output[0]] = numpy_helper.to_array(value)
    return out


def consumers(graph: onnx.GraphProto) -> dict[str, list[onnx.NodeProto]]:
    """Map tensor name -> nodes reading it, for walking the graph forward."""
    out: dict[str, list[onnx.NodeProto]] = {}
    for node in graph.node:
        for name in node.input:
            out.setdefault(name, []).append(node)
    return out


def producers(graph: onnx.GraphProto) -> dict[str, onnx.NodeProto]:
    """Map tensor name -> node writing it, for walking the graph backward."""
    return {o: node for node in graph.node for o in node.output}


def session(model: onnx.ModelProto | str, threads: int = 2,
            exact: bool = False) -> ort.InferenceSession:
    """A CPU session like the runtime's; `exact` disables ORT's numeric-changing fusions.

    At ORT_ENABLE_ALL, ORT turns DequantizeLinear -> MatMul into MatMulNBits, which
    changes the acoustic model's numbers; equivalence is judged on the graph itself.
    """
    opts = ort.SessionOptions()
    if exact:
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    src = model if isinstance(model, str) else model.SerializeToString()
    return ort.InferenceSession(src, opts, providers=["CPUExecutionProvider"])


def probe(model: onnx.ModelProto, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Run the original graph exposing every typed tensor: ground truth for the lift."""
    inferred = onnx.shape_inference.infer_shapes(model)
    exposed = onnx.ModelProto()
    exposed.CopyFrom(model)
    known = {o.name for o in exposed.graph.output}
    for vi in list(inferred.graph.value_info):
        if vi.name not in known and vi.type.tensor_type.elem_type:
            exposed.graph.output.append(helper.make_tensor_value_info(
                vi.name, vi.type.tensor_type.elem_type, None))
    sess = session(exposed)
    names = [o.name for o in sess.get_outputs()]
    return dict(zip(names, sess.run(names, feed), strict=True))


def cleanup(model: onnx.ModelProto) -> onnx.ModelProto:
    """Fold bias adds into convs, drop no-op transposes and dead nodes."""
    _fold_bias_adds(model.graph)
    _drop_identity_transposes(model.graph)
    prune(model.graph)
    onnx.checker.check_model(model)
    return model


def _fold_bias_adds(graph: onnx.GraphProto) -> None:
    """Conv -> Add([C,1] constant) becomes one Conv with a bias: one pass less over memory."""
    inits = {t.name: t for t in graph.initializer}
    users = consumers(graph)
    prod = producers(graph)
    keep = []
    renames: dict[str, str] = {}
    for node in graph.node:
        src = prod.get(node.input[0]) if node.op_type == "Add" else None
        foldable = (src is not None and src.op_type in ("Conv", "ConvTranspose")
                    and node.input[1] in inits and len(users[node.input[0]]) == 1)
        if not foldable:
            keep.append(node)
            continue
        assert src is not None
        add = numpy_helper.to_array(inits[node.input[1]]).reshape(-1)
        if len(src.input) > 2 and src.input[2]:
            add = add + numpy_helper.to_array(inits[src.input[2]])
        name = f"{src.name}_bias"
        graph.initializer.append(numpy_helper.from_array(add.astype(np.float32), name))
        del src.input[2:]
        src.input.append(name)
        renames[node.output[0]] = src.output[0]
    _apply_renames(graph, keep, renames)


def _drop_identity_transposes(graph: onnx.GraphProto) -> None:
    """A Transpose with perm 0..n-1 does nothing; remove it."""
    keep, renames = [], {}
    for node in graph.node:
        perm = node_attrs(node).get("perm")
        if node.op_type == "Transpose" and perm == list(range(len(perm or []))):
            renames[node.output[0]] = node.input[0]
        else:
            keep.append(node)
    _apply_renames(graph, keep, renames)


def _apply_renames(graph: onnx.GraphProto, keep: list[onnx.NodeProto],
                   renames: dict[str, str]) -> None:
    """Rewire consumers of removed nodes, keeping graph output names stable."""
    outputs = {o.name for o in graph.output}
    for node in keep:
        for i, name in enumerate(node.input):
            while name in renames:
                name = renames[name]
            node.input[i] = name
    for old, new in renames.items():
        if old in outputs:
            for node in keep:
                for i, o in enumerate(node.output):
                    if o == new:
                        node.output[i] = old
    del graph.node[:]
    graph.node.extend(keep)


def prune(graph: onnx.GraphProto) -> None:
    """Remove nodes and initializers nothing depends on."""
    needed = {o.name for o in graph.output}
    live = []
    for node in reversed(graph.node):
        if any(o in needed for o in node.output):
            live.append(node)
            needed.update(node.input)
    del graph.node[:]
    graph.node.extend(reversed(live))
    inits = [t for t in graph.initializer if t.name in needed]
    del graph.initializer[:]
    graph.initializer.extend(inits)
