"""AAC (ADTS stream) through PyAV's bundled FFmpeg: libsndfile has no AAC encoder."""

from __future__ import annotations

import io

import av
import numpy as np


def encode_aac(samples: np.ndarray, sample_rate: int) -> bytes:
    """int16 mono samples -> an ADTS AAC byte stream that players read without a container."""
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="adts") as container:
        stream = container.add_stream("aac", rate=sample_rate, layout="mono")
        frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = sample_rate
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return buffer.getvalue()
