"""The tf2onnx vocoder graph as found: what it holds, and where its dilated convs hide.

Reading only, no rewriting: which tensors are constants and which carry the signal,
who produces and consumes each tensor, the values observed by running the graph at
two lengths (the "probe"), what each Slice and Pad does to the axes, and each
SpaceToBatchND -> Conv -> BatchToSpaceND region that tf2onnx made of a dilated conv.
`tts.voices.vocoder_rewrite` re-emits the graph from these facts. Anything unexpected
raises `PatternError`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnx

from tts.voices.graph import check, constants, consumers, probe, producers

DATA_INPUT = "mels"
PROBE_FRAMES = (57, 83)  # two lengths, not multiples of the dilations (3, 9, 27)
S2B_OPS = frozenset({"Pad", "Reshape", "Transpose", "Unsqueeze", "Squeeze", "Slice"})


def _data_tensors(graph: onnx.GraphProto, consts: dict[str, np.ndarray]) -> set[str]:
    """Tensors carrying the signal; shape arithmetic (after Shape/Size) is excluded."""
    data = {i.name for i in graph.input if i.name not in consts}
    for node in graph.node:
        if node.op_type in ("Shape", "Size"):
            continue
        if any(i in data for i in node.input):
            data.update(o for o in node.output if o)
    return data


@dataclass
class DilatedRegion:
    """One SpaceToBatchND -> Conv -> BatchToSpaceND region, reduced to its meaning."""

    source: str
    conv: onnx.NodeProto
    dilation: int
    time_axis: int
    inner: set[str]


class ObservedGraph:
    """The original vocoder graph, with the tensor values seen at each probe length.

    Built once per rewrite: running the probes is the slow part.
    """

    def __init__(self, model: onnx.ModelProto) -> None:
        self.graph = model.graph
        self.consts = constants(self.graph)
        self.data = _data_tensors(self.graph, self.consts)
        self.prod = producers(self.graph)
        self.cons = consumers(self.graph)
        rng = np.random.default_rng(0)
        self.probes = [
            probe(model, {DATA_INPUT: rng.standard_normal((1, t, 80)).astype(np.float32)})
            for t in PROBE_FRAMES
        ]

    def shapes(self, name: str) -> list[tuple[int, ...]]:
        """Observed shape of a tensor at each probe length."""
        check(all(name in p for p in self.probes), f"no probe value for {name}")
        return [tuple(p[name].shape) for p in self.probes]

    def param(self, name: str) -> list[np.ndarray]:
        """Observed value of a parameter input (constant or computed) at each probe."""
        if name in self.consts:
            return [self.consts[name]] * len(self.probes)
        check(all(name in p for p in self.probes), f"no probe value for {name}")
        return [p[name] for p in self.probes]

    def const(self, name: str, what: str) -> np.ndarray:
        """A constant input, or a PatternError naming what was expected."""
        check(name in self.consts, f"{what} ({name}) is not a constant")
        return self.consts[name]

    def slice_edges(self, node: onnx.NodeProto) -> dict[int, tuple[int, int]]:
        """Per-axis (cut at start, cut at end) of a unit-step Slice, the same at every
        probe length."""
        params = [self.param(n) if n else [None] * len(self.probes) for n in node.input[1:]]
        cuts = []
        for i, shape in enumerate(self.shapes(node.input[0])):
            starts, ends = params[0][i], params[1][i]
            axes = params[2][i] if len(params) > 2 and params[2][i] is not None else None
            steps = params[3][i] if len(params) > 3 and params[3][i] is not None else None
            check(steps is None or bool(np.all(steps == 1)), f"{node.name}: step != 1")
            assert starts is not None and ends is not None
            ax_list = ([int(a) % len(shape) for a in axes] if axes is not None
                       else list(range(len(starts))))
            cuts.append(_edges(ax_list, [int(s) for s in starts], [int(e) for e in ends], shape))
        check(all(c == cuts[0] for c in cuts), f"{node.name}: crop depends on length")
        return cuts[0]

    def pad_edges(self, node: onnx.NodeProto, rank: int) -> dict[int, tuple[int, int]]:
        """Per-axis (added at start, added at end) of a zero-valued Pad over all `rank`
        axes, the same at every probe length."""
        if len(node.input) > 2 and node.input[2]:
            check(bool(np.all(self.const(node.input[2], "pad value") == 0)), "pad value")
        check(len(node.input) < 4 or not node.input[3], f"{node.name}: Pad axes unsupported")
        pads = [tuple(int(p) for p in v.ravel()) for v in self.param(node.input[1])]
        check(all(p == pads[0] for p in pads), f"{node.name}: padding depends on length")
        return {ax: (pads[0][ax], pads[0][ax + rank]) for ax in range(rank)}

    def dilated_regions(self) -> dict[str, DilatedRegion]:
        """Every conv that runs on a space-to-batch'ed tensor (batch > 1), keyed by the
        name of the Slice that crops its output (where the region ends)."""
        regions: dict[str, DilatedRegion] = {}
        for node in self.graph.node:
            if node.op_type != "Conv" or node.input[0] not in self.data:
                continue
            batches = {s[0] for s in self.shapes(node.input[0])}
            if batches == {1}:
                continue
            check(len(batches) == 1, f"{node.name}: batch varies with length")
            crop, region = self._region(node, batches.pop())
            regions[crop] = region
        return regions

    def _region(self, conv: onnx.NodeProto, dilation: int) -> tuple[str, DilatedRegion]:
        """Walk back to the padding that starts SpaceToBatchND, forward to its crop."""
        inner: set[str] = {conv.name}
        name = conv.input[0]
        while True:
            node = self.prod[name]
            check(node.op_type in S2B_OPS, f"unexpected {node.op_type} before {conv.name}")
            inner.add(node.name)
            if node.op_type == "Pad" and node.input[1] not in self.consts:
                source = node.input[0]
                break
            name = node.input[0]
        name = conv.output[0]
        while True:
            users = [n for n in self.cons.get(name, []) if n.op_type not in ("Shape", "Size")]
            check(len(users) == 1, f"{name}: expected one data consumer in BatchToSpaceND")
            node = users[0]
            check(node.op_type in S2B_OPS, f"unexpected {node.op_type} after {conv.name}")
            if node.op_type == "Slice":
                break
            inner.add(node.name)
            name = node.output[0]
        spatial = [s[2:] for s in self.shapes(conv.input[0])]
        axes = {i for sh in spatial for i, d in enumerate(sh) if d != 1}
        check(len(axes) == 1, f"{conv.name}: cannot tell its time axis")
        return node.name, DilatedRegion(source, conv, dilation, axes.pop(), inner)


def _edges(axes: list[int], starts: list[int], ends: list[int],
           shape: tuple[int, ...]) -> dict[int, tuple[int, int]]:
    """Per-axis (cut at start, cut at end) of a unit-step Slice at one probe."""
    out: dict[int, tuple[int, int]] = {}
    for ax, s, e in zip(axes, starts, ends, strict=True):
        dim = shape[ax]
        s = min(max(s + dim if s < 0 else s, 0), dim)
        e = min(max(e + dim if e < 0 else e, 0), dim)
        out[ax] = (s, dim - e)
    return out
