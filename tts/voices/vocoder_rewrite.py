"""Lift the tf2onnx vocoder graph into one clean NCW Conv1d chain.

tf2onnx turns the TFLite vocoder into a tangle: every conv1d is a conv2d wrapped in
NHWC<->NCHW transposes, and every dilated conv is SpaceToBatchND -> Conv ->
BatchToSpaceND with dozens of shape-arithmetic nodes. This module *lifts* the
vocoder's data path into plain 1-D operations (conv, transposed conv, reflect pad,
leaky relu, add, tanh) and re-emits it as one clean NCW Conv1d chain with real
`dilations`. Every assumption is checked against the graph and against values
observed by running the original graph (the "probe"); anything unexpected raises
`PatternError` instead of producing a silently wrong voice.

The graph is read by `tts.voices.vocoder_graph` (constants, probes, dilated regions)
and written through `tts.voices.ncw_emitter`; this module decides, op by op, what
each original node becomes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import onnx
from onnx import helper

from tts.voices.graph import check, cleanup, node_attrs
from tts.voices.ncw_emitter import NcwEmitter, conv1d_attrs
from tts.voices.vocoder_graph import DATA_INPUT, DilatedRegion, ObservedGraph

OPSET = 17
LAYOUT_OPS = frozenset({"Transpose", "Unsqueeze", "Squeeze", "Identity", "Dropout"})
INT64_MAX = np.iinfo(np.int64).max


@dataclass
class _Value:
    """An original tensor seen as an emitted NCW tensor plus its original layout.

    `labels` names each axis of the original tensor: N (batch), C (channels),
    W (time) or 1 (a singleton axis added by conv1d-as-conv2d).
    """

    name: str
    labels: tuple[str, ...]


class VocoderLift:
    """Walks the tf2onnx vocoder graph and re-emits its data path as NCW Conv1d ops."""

    def __init__(self, model: onnx.ModelProto, keep_quant: bool, rank4: bool = False) -> None:
        self.model = model
        self.graph = model.graph
        self.keep_quant = keep_quant
        self.seen = ObservedGraph(model)
        self.em = NcwEmitter(rank4)
        self.values: dict[str, _Value] = {}
        self.regions: dict[str, DilatedRegion] = {}
        self.skip: set[str] = set()

    # ---- main walk

    def run(self) -> onnx.ModelProto:
        """Lift the whole data path and return the clean model."""
        self.regions = self.seen.dilated_regions()
        self.skip = set().union(*(region.inner for region in self.regions.values()))
        inp = self.graph.input[0]
        check(inp.name == DATA_INPUT and len(self.graph.input) == 1, "unexpected inputs")
        ncw = self.em.node("Transpose", [DATA_INPUT], "ncw", perm=[0, 2, 1])
        if self.em.rank4:
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
            check(handler is not None, f"no rewrite for {node.op_type} {node.name}")
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
            perm = node_attrs(node).get("perm") or list(reversed(range(len(labels))))
            assert isinstance(perm, list)
            labels = [labels[int(p)] for p in perm]
        elif node.op_type == "Unsqueeze":
            axes = self.seen.const(node.input[1], "Unsqueeze axes")
            rank = len(labels) + axes.size
            for ax in sorted(int(a) % rank for a in axes.ravel()):
                labels.insert(ax, "1")
        elif node.op_type == "Squeeze":
            axes = self.seen.const(node.input[1], "Squeeze axes")
            drop = {int(a) % len(labels) for a in axes.ravel()}
            check(all(labels[a] == "1" for a in drop), f"{node.name} squeezes a real axis")
            labels = [lab for i, lab in enumerate(labels) if i not in drop]
        self.set(node, val.name, tuple(labels))

    def reshape(self, node: onnx.NodeProto) -> None:
        """Accept only reshapes that move singleton axes (e.g. the final [1,-1,1])."""
        val = self.values[node.input[0]]
        before, after = self.seen.shapes(node.input[0]), self.seen.shapes(node.output[0])
        for b, a in zip(before, after, strict=True):
            check([d for d in b if d != 1] == [d for d in a if d != 1],
                  f"{node.name} is a real reshape")
        real = [lab for lab, d in zip(val.labels, before[0], strict=True) if d != 1]
        ones = [lab for lab, d in zip(val.labels, before[0], strict=True) if d == 1]
        labels = [ones.pop(0) if d == 1 else real.pop(0) for d in after[0]]
        self.set(node, val.name, tuple(labels))

    def unary(self, node: onnx.NodeProto) -> None:
        """Elementwise ops are layout-agnostic: emit as they are."""
        val = self.values[node.input[0]]
        attrs = node_attrs(node)
        out = self.em.node(node.op_type, [val.name], node.op_type.lower(), **attrs)
        self.set(node, out, val.labels)

    def add(self, node: onnx.NodeProto) -> None:
        """Residual add (two signals) or bias add (signal + per-channel constant)."""
        a, b = node.input
        if a in self.values and b in self.values:
            va, vb = self.values[a], self.values[b]
            check(va.labels == vb.labels, f"{node.name} adds tensors in different layouts")
            self.set(node, self.em.node("Add", [va.name, vb.name], "add"), va.labels)
            return
        sig, cst = (a, b) if a in self.values else (b, a)
        val = self.values[sig]
        bias = self.seen.const(cst, "Add operand")
        bias_ncw = self._per_channel(bias, val.labels, node.name)
        out = self.em.node("Add", [val.name, self.em.const("bias", bias_ncw)], "biased")
        self.set(node, out, val.labels)

    def _per_channel(self, bias: np.ndarray, labels: tuple[str, ...], where: str) -> np.ndarray:
        """Turn a broadcast constant into an NCW [C, 1] bias, checking it is per-channel."""
        full = bias.reshape((1,) * (len(labels) - bias.ndim) + bias.shape)
        for lab, d in zip(labels, full.shape, strict=True):
            check(d == 1 or lab == "C", f"{where}: constant varies along {lab}")
        return full.reshape((-1, 1, 1) if self.em.rank4 else (-1, 1)).astype(np.float32)

    def conv(self, node: onnx.NodeProto) -> None:
        """A conv2d whose non-time spatial axis is 1 is a conv1d: emit it as one."""
        val = self.values[node.input[0]]
        check(val.labels[:2] == ("N", "C"), f"{node.name}: input is not NCHW")
        spatial = val.labels[2:]
        check(sorted(spatial) == ["1", "W"], f"{node.name}: spatial axes {spatial}")
        t = spatial.index("W")
        attrs = node_attrs(node)
        check(attrs.get("auto_pad", b"NOTSET") in (b"NOTSET", "NOTSET"), "auto_pad")
        check("output_shape" not in attrs, f"{node.name}: output_shape unsupported")
        weight = self.seen.const(node.input[1], "conv weight")
        check(weight.shape[2 + 1 - t] == 1, f"{node.name}: kernel spans the singleton axis")
        new: dict[str, Any] = {"kernel_shape": [int(weight.shape[2 + t])]}
        new.update(conv1d_attrs(attrs, t, node.name))
        new = self.em.widen(new)
        if "group" in attrs:
            new["group"] = attrs["group"]
        inputs = [val.name, self.em.const("w", self.em.kernel(weight, t))]
        if len(node.input) > 2 and node.input[2]:
            inputs.append(self.em.const("b", self.seen.const(node.input[2], "conv bias")))
        out = self.em.node(node.op_type, inputs, node.op_type.lower(), **new)
        self.set(node, out, val.labels)

    def emit_dilated(self, crop: onnx.NodeProto) -> None:
        """Replace a SpaceToBatchND/Conv/BatchToSpaceND region by one dilated conv."""
        region = self.regions[crop.name]
        val = self.values[region.source]
        conv = region.conv
        attrs = node_attrs(conv)
        for key in ("strides", "dilations"):
            check(all(v == 1 for v in attrs.get(key, [1])), f"{conv.name}: {key} != 1")
        check(all(v == 0 for v in attrs.get("pads", [0])), f"{conv.name}: pads != 0")
        check(attrs.get("group", 1) == 1, f"{conv.name}: grouped")
        weight = self.seen.const(conv.input[1], "dilated conv weight")
        t = region.time_axis
        check(weight.shape[2 + 1 - t] == 1, f"{conv.name}: kernel spans the singleton axis")
        kernel = int(weight.shape[2 + t])
        self._check_dilated_shapes(region, crop, val.labels, weight.shape[0], kernel)
        inputs = [val.name, self.em.const("w", self.em.kernel(weight, t))]
        if len(conv.input) > 2 and conv.input[2]:
            inputs.append(self.em.const("b", self.seen.const(conv.input[2], "conv bias")))
        widened = self.em.widen({"kernel_shape": [kernel], "dilations": [region.dilation]})
        out = self.em.node("Conv", inputs, "dconv", **widened)
        self.set(crop, out, val.labels)

    def _check_dilated_shapes(self, region: DilatedRegion, crop: onnx.NodeProto,
                              labels: tuple[str, ...], out_ch: int, kernel: int) -> None:
        """The region must map [.., W, C] to [.., W - d*(k-1), O] in the same layout."""
        shrink = region.dilation * (kernel - 1)
        for src, dst in zip(self.seen.shapes(region.source), self.seen.shapes(crop.output[0]),
                            strict=True):
            want = tuple(d - shrink if lab == "W" else out_ch if lab == "C" else d
                         for lab, d in zip(labels, src, strict=True))
            check(dst == want, f"{region.conv.name}: region maps {src} to {dst}, not {want}")

    def slice(self, node: onnx.NodeProto) -> None:
        """A Slice on the signal must cut a fixed number of frames off each end of W."""
        val = self.values[node.input[0]]
        self._emit_crop_or_pad(node, val, self.seen.slice_edges(node), "Slice")

    def pad(self, node: onnx.NodeProto) -> None:
        """Reflect/zero padding of W only, with amounts independent of the length."""
        val = self.values[node.input[0]]
        mode = node_attrs(node).get("mode", b"constant")
        mode = mode.decode() if isinstance(mode, bytes) else mode
        amounts = self.seen.pad_edges(node, len(val.labels))
        self._emit_crop_or_pad(node, val, amounts, "Pad", str(mode))

    def _emit_crop_or_pad(self, node: onnx.NodeProto, val: _Value,
                          amounts: dict[int, tuple[int, int]], op: str,
                          mode: str = "constant") -> None:
        """Shared tail of slice/pad: only W may change; emit on NCW axis 2."""
        for ax, (lo, hi) in amounts.items():
            check(val.labels[ax] == "W" or (lo, hi) == (0, 0), f"{node.name}: edits axis {ax}")
        w = [amounts.get(ax, (0, 0)) for ax, lab in enumerate(val.labels) if lab == "W"]
        lo, hi = w[0] if w else (0, 0)
        if (lo, hi) == (0, 0):
            self.set(node, val.name, val.labels)
            return
        if op == "Pad":
            amount = np.zeros(2 * (self.em.t_axis + 1), np.int64)
            amount[[self.em.t_axis, 2 * self.em.t_axis + 1]] = lo, hi
            pads = self.em.const("pads", amount)
            out = self.em.node("Pad", [val.name, pads], "pad", mode=mode)
        else:
            starts = self.em.const("starts", np.array([lo], np.int64))
            ends = self.em.const("ends", np.array([-hi if hi else INT64_MAX], np.int64))
            axes = self.em.const("axes", np.array([self.em.t_axis], np.int64))
            out = self.em.node("Slice", [val.name, starts, ends, axes], "crop")
        self.set(node, out, val.labels)

    def quant(self, node: onnx.NodeProto) -> None:
        """The 8-bit round trip on the sub-band signal: keep it or drop it (identity)."""
        val = self.values[node.input[0]]
        if not self.keep_quant:
            self.set(node, val.name, val.labels)
            return
        scale = self.seen.const(node.input[1], "quant scale")
        check(scale.size == 1, f"{node.name}: per-axis quantization unsupported")
        inputs = [val.name, self.em.const("scale", scale)]
        if len(node.input) > 2 and node.input[2]:
            inputs.append(self.em.const("zp", self.seen.const(node.input[2], "zero point")))
        self.set(node, self.em.node(node.op_type, inputs, "q"), val.labels)

    # ---- output

    def finish(self) -> onnx.ModelProto:
        """Convert the lifted output back to the original layout and build the model."""
        check(len(self.graph.output) == 1, "expected one output")
        out_info = self.graph.output[0]
        val = self.values.get(out_info.name)
        check(val is not None, "output not reached by the lift")
        assert val is not None
        canon = ("N", "C", "W")
        real = tuple(lab for lab in val.labels if lab != "1")
        check(sorted(real) == sorted(canon), f"output labels {val.labels}")
        perm = [canon.index(lab) for lab in real]
        name = val.name
        if self.em.rank4:
            name = self.em.node("Squeeze", [name, self.em.const("ax", np.array([2]))], "ncw")
        tail = self.em.node("Transpose", [name], "out", perm=perm)
        shape = [1 if lab != "W" else -1 for lab in val.labels]
        self.em.node("Reshape", [tail, self.em.const("shape", np.array(shape, np.int64))], "out")
        self.em.nodes[-1].output[0] = out_info.name
        graph = helper.make_graph(self.em.nodes, "vocoder", [self.graph.input[0]],
                                  [out_info], self.em.inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
        model.ir_version = self.model.ir_version
        return cleanup(model)

