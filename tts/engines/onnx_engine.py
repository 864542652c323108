"""The embedded engine: FastSpeech2 (ids -> mel) then multi-band MelGAN (mel -> audio).

Both graphs run on ONNX Runtime. `run` releases the GIL and is safe to call from
several threads on one session, so one engine per worker serves all of its
inference threads.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path

import numpy as np
import onnxruntime as ort
import soxr
from onnxruntime.capi.onnxruntime_pybind11_state import InvalidArgument

from tts.audio.stretch import speed_up
from tts.emotions import Prosody
from tts.engines.base import AudioChunk, EngineError, SentenceAudio, VoiceInfo
from tts.engines.graph_cache import open_cached
from tts.voices import Voice

_LOGGER = logging.getLogger(__name__)

CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"
# One short pass through both graphs (你好): it runs every node once, which is all a
# first request would otherwise pay extra for (on the CPU, first passes at longer
# lengths cost what later ones do, so a longer warm-up only delays readiness).
_WARM_UP_PHONES = ("n", "i3", "h", "ao3")
# The vocoder's reflection padding needs at least this many frames.
_MIN_VOCODER_FRAMES = 16
# Mel frames of context on each side of a streamed vocoder chunk: with 24 the
# chunked output equals whole-sentence vocoding to ~1e-6 (measured), since the
# vocoder is convolutional with a receptive field shorter than that.
STREAM_CONTEXT_FRAMES = 24
STREAM_FIRST_FRAMES = 16  # 0.2 s of audio in the first chunk: small, so it leaves fast
STREAM_MAX_FRAMES = 256
# A symbol is heard a few frames after the frames the model's durations give it (the
# decoder and the vocoder smooth across neighbouring frames), so reported timings
# move that much later; bench/timestamps.py checks them against a recognizer.
AUDIBLE_LAG_FRAMES = 3
# Edge silence kept where a sentence joins a neighbour cut from the same clause. The
# end keeps more: the last syllable's sound outlasts its frames by several frames.
TIGHT_LEAD_FRAMES = 1
TIGHT_TAIL_FRAMES = 12
# The fastest this voice speaks on its own and stays understood: above it, the
# acoustic model speaks at this speed and the audio is shortened the rest of the way
# (tts.audio.stretch); bench/intelligibility.py measured both ways.
MAX_MODEL_SPEED = 1.25


def session_options(threads: int) -> ort.SessionOptions:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # Spinning threads burn a core while idle; with several sessions per worker
    # and several workers per machine that time is better left to the others.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return options


def providers_for(device: str) -> list[str]:
    """Execution providers to ask for: `auto` tries CUDA when this build has it."""
    available = ort.get_available_providers()
    if device == "cpu":
        return [CPU]
    if device == "cuda" and CUDA not in available:
        raise EngineError(
            "DEVICE=cuda but this onnxruntime has no CUDAExecutionProvider "
            "(install onnxruntime-gpu and the CUDA libraries, or use DEVICE=auto/cpu)"
        )
    return [CUDA, CPU] if CUDA in available else [CPU]


def open_session(path: Path, device: str, threads: int,
                 model_hash: str | None = None) -> ort.InferenceSession:
    """A session for one graph. On the CPU, with the voice's `model_hash`, the graph is
    optimized once and then loaded from tts.engines.graph_cache: faster to open, and
    its weights are mapped from a file that every worker shares."""
    providers = providers_for(device)
    if model_hash is not None and providers == [CPU]:
        return open_cached(path, model_hash, lambda: session_options(threads), providers)
    session = ort.InferenceSession(str(path), sess_options=session_options(threads),
                                   providers=providers)
    got = session.get_providers()
    if device == "cuda" and got[0] != CUDA:
        raise EngineError(f"DEVICE=cuda but CUDA did not initialize for {path.name}: {got}")
    return session


@dataclass
class OnnxEngine:
    """One per worker, created at start-up by `load`, never per request."""

    voice: Voice
    acoustic: ort.InferenceSession
    vocoder: ort.InferenceSession
    device: str
    name: str = "onnx"
    max_model_speed: float = MAX_MODEL_SPEED
    warm_up_s: float | None = None

    @classmethod
    def load(cls, voice_dir: Path, *, device: str = "auto", threads: int = 2) -> OnnxEngine:
        voice = Voice.load(voice_dir)
        acoustic = open_session(voice.model_path("acoustic"), device, threads, voice.model_hash)
        vocoder = open_session(voice.model_path("vocoder"), device, threads, voice.model_hash)
        where = "cuda" if acoustic.get_providers()[0] == CUDA else "cpu"
        _LOGGER.info("onnx engine: voice %s (%s) on %s, %d threads per session",
                     voice.name, voice.model_hash, where, threads)
        return cls(voice=voice, acoustic=acoustic, vocoder=vocoder, device=where)

    @property
    def sample_rate(self) -> int:
        return self.voice.sample_rate

    @cached_property
    def _break_ids(self) -> frozenset[int]:
        """Ids of the prosody break symbols (#0-#4) between syllables."""
        return frozenset(i for symbol, i in self.voice.symbol_to_id.items()
                         if symbol.startswith("#"))

    @property
    def model_hash(self) -> str:
        # Audio above max_model_speed depends on it too: entries made with another
        # limit must not be served.
        return f"{self.voice.model_hash}:{self.max_model_speed:g}"

    def symbol_tables(self) -> tuple[dict[str, int], dict[str, list[str]]]:
        return self.voice.symbol_to_id, self.voice.pinyin_dict

    def voices(self) -> list[VoiceInfo]:
        return [VoiceInfo(self.voice.name, self.voice.language, self.voice.sample_rate,
                          self.name, self.voice.emotions)]

    def warm_up(self) -> float:
        """Run each tensor shape class once; only the first call does (a worker's engine is
        warmed on the thread that built it), later ones return its seconds."""
        if self.warm_up_s is None:
            self.warm_up_s = self._warm_up()
        return self.warm_up_s

    def _warm_up(self) -> float:
        started = time.perf_counter()
        ids = [self.voice.symbol_to_id[s] for s in ("sil", *_WARM_UP_PHONES, "sil", "eos")]
        self.synthesize(self.voice.name, "", ids, Prosody())
        return time.perf_counter() - started

    def mel(self, ids: list[int], prosody: Prosody) -> tuple[np.ndarray, list[int]]:
        """Acoustic model: symbol ids -> (mel [1, frames, 80], frames spent on each id)."""
        feed = {
            "input_ids": np.asarray([ids], dtype=np.int32),
            "speaker_ids": np.zeros(1, dtype=np.int32),
            # The model stretches durations by this ratio: >1 is slower speech. A pitch
            # shift (see `shift_pitch`) shortens the audio by `pitch`, so ask for that
            # much longer.
            "speed_ratios": np.asarray([prosody.pitch / prosody.speed], dtype=np.float32),
            "f0_ratios": np.asarray([prosody.f0], dtype=np.float32),
            "energy_ratios": np.asarray([prosody.energy], dtype=np.float32),
        }
        try:
            outputs = self.acoustic.run(None, feed)
        except InvalidArgument as exc:
            # More frames than the decoder has positions for: a long clause said slowly.
            halves = self._halves(ids)
            if halves is None or "position_embeddings" not in str(exc):
                raise EngineError(f"the acoustic model refused the input: {exc}") from exc
            (first, first_frames), (second, second_frames) = (self.mel(h, prosody)
                                                              for h in halves)
            # The halves' extra edges (sil eos | sil) are the pause at the break symbol.
            at_break = sum(first_frames[-2:]) + second_frames[0]
            frames = [*first_frames[:-2], at_break, *second_frames[1:]]
            return np.concatenate([first, second], axis=1), frames
        return outputs[1], [int(f) for f in outputs[2].reshape(-1)]

    def _halves(self, ids: list[int]) -> tuple[list[int], list[int]] | None:
        """Two well-formed id sequences, cut at the prosody break nearest the middle
        (a short pause there is what a reader would make), or None if there is none."""
        sil, eos = self.voice.symbol_to_id["sil"], self.voice.symbol_to_id["eos"]
        if len(ids) < 4 or ids[0] != sil or ids[-2:] != [sil, eos]:
            return None
        body = ids[1:-2]
        breaks = [i for i, symbol in enumerate(body) if symbol in self._break_ids]
        if not breaks:
            return None
        cut = min(breaks, key=lambda i: abs(i - len(body) / 2))
        return [sil, *body[:cut], sil, eos], [sil, *body[cut + 1:], sil, eos]

    def vocode(self, mel: np.ndarray) -> np.ndarray:
        """Vocoder: mel [1, frames, 80] -> float audio [frames * hop]."""
        frames = mel.shape[1]
        if frames < _MIN_VOCODER_FRAMES:  # pad with the last (silent) frame, cut after
            mel = np.pad(mel, ((0, 0), (0, _MIN_VOCODER_FRAMES - frames), (0, 0)), mode="edge")
        audio: np.ndarray = self.vocoder.run(None, {"mels": mel})[0]
        return np.clip(audio.reshape(-1)[: frames * self.voice.hop_size], -1.0, 1.0)

    def stream(self, voice: str, text: str, ids: list[int], prosody: Prosody, *,
               whole: bool = False) -> Iterator[AudioChunk]:
        """The mel, then growing vocoder spans (or the whole sentence at once: when
        asked, and when it is said faster than `max_model_speed`, since the stretcher
        takes it whole).

        Each step does its own compute, so a caller can run each `next()` on a worker
        thread and send a chunk before the next one is vocoded.
        """
        if voice != self.voice.name:
            raise EngineError(f"voice {voice!r} is not loaded")
        started = time.perf_counter()
        model_speed = min(prosody.speed, self.max_model_speed)
        stretch = prosody.speed / model_speed
        mel, frames = tightened(*self.mel(ids, replace(prosody, speed=model_speed)), prosody)
        acoustic_s = time.perf_counter() - started
        hop = self.voice.hop_size
        # The pitch shift below plays the audio `pitch` times faster, the stretch
        # `stretch` times.
        durations = tuple(f * hop / (self.sample_rate * prosody.pitch * stretch)
                          for f in heard_frames(frames))
        total = mel.shape[1]
        if whole or stretch != 1.0:
            started = time.perf_counter()
            audio = shift_pitch(self.vocode(mel), self.sample_rate, prosody.pitch)
            audio = speed_up(audio, self.sample_rate, stretch)
            yield AudioChunk(audio, True, acoustic_s, time.perf_counter() - started, durations)
            return
        shifter = None
        if prosody.pitch != 1.0:
            shifter = soxr.ResampleStream(self.sample_rate * prosody.pitch, self.sample_rate, 1,
                                          dtype="float32", quality="HQ")
        for start, end in chunk_spans(total, STREAM_FIRST_FRAMES, STREAM_MAX_FRAMES):
            began = time.perf_counter()
            low = max(0, start - STREAM_CONTEXT_FRAMES)
            high = min(total, end + STREAM_CONTEXT_FRAMES)
            audio = self.vocode(mel[:, low:high])
            chunk = audio[(start - low) * hop:(end - low) * hop]
            if shifter is not None:
                chunk = np.clip(shifter.resample_chunk(chunk, last=end == total), -1.0, 1.0)
            first = start == 0
            yield AudioChunk(chunk, end == total, acoustic_s if first else 0.0,
                             time.perf_counter() - began, durations if first else None)

    def synthesize(self, voice: str, text: str, ids: list[int], prosody: Prosody) -> SentenceAudio:
        [chunk] = self.stream(voice, text, ids, prosody, whole=True)
        return SentenceAudio(audio=chunk.audio, acoustic_s=chunk.acoustic_s,
                             vocoder_s=chunk.vocoder_s)


def shift_pitch(audio: np.ndarray, sample_rate: int, ratio: float) -> np.ndarray:
    """Raise (ratio > 1) or lower the voice by resampling: the audio is read as if
    recorded at `ratio` times its rate, so every frequency moves by `ratio` and the
    duration shrinks by it (the acoustic model was asked for that much more). The
    model's own F0 ratio only widens or narrows the contour around the speaker's
    mean (measured: 0.7 -> 1.3 leaves mean F0 within 1%), so the register moves here.
    Formants move with it, which at +-15% reads as a brighter or darker voice."""
    if ratio == 1.0:
        return audio
    shifted = soxr.resample(audio, sample_rate * ratio, sample_rate, quality="HQ")
    return np.clip(shifted, -1.0, 1.0).astype(np.float32, copy=False)


def tightened(mel: np.ndarray, frames: list[int], prosody: Prosody) -> (
        tuple[np.ndarray, list[int]]):
    """The mel without most of its opening or closing silence where `prosody` asks
    (cut before vocoding, so whole and streamed audio stay the same)."""
    if len(frames) < 3 or not (prosody.tight_start or prosody.tight_end):
        return mel, frames
    frames = list(frames)
    lead = max(0, frames[0] - TIGHT_LEAD_FRAMES) if prosody.tight_start else 0
    frames[0] -= lead
    tail = max(0, frames[-2] + frames[-1] - TIGHT_TAIL_FRAMES) if prosody.tight_end else 0
    cut = tail
    for k in (-1, -2):  # eos first, then the closing sil
        taken = min(cut, frames[k])
        frames[k] -= taken
        cut -= taken
    return mel[:, lead:mel.shape[1] - tail], frames


def heard_frames(frames: list[int]) -> list[int]:
    """Frames per symbol as heard: the opening silence lasts AUDIBLE_LAG_FRAMES longer
    and the closing symbols give that back, so the total still matches the audio."""
    if len(frames) < 2:
        return frames
    heard = list(frames)
    lag = min(AUDIBLE_LAG_FRAMES, sum(frames[1:]))
    heard[0] += lag
    for k in range(len(heard) - 1, 0, -1):  # taken from the end, never below zero
        taken = min(lag, heard[k])
        heard[k] -= taken
        lag -= taken
        if not lag:
            break
    return heard


def chunk_spans(total: int, first: int, largest: int) -> Iterator[tuple[int, int]]:
    """Frame spans covering [0, total): `first` frames, then doubling up to `largest`."""
    start, size = 0, first
    while start < total:
        end = min(total, start + size)
        yield start, end
        start, size = end, min(largest, size * 2)
