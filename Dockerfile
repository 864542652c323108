# syntax=docker/dockerfile:1
#
# Targets (the last one, `cpu`, is the default):
#   docker build -t mandarin-tts:cpu .                 # ONNX voice on the CPU
#   docker build -t mandarin-tts:gpu --target gpu .    # CUDA: Sambert-HiFiGAN + onnxruntime-gpu
# Everything the service needs (the ONNX voice, the Sambert weights) is fetched at
# build time: a running container needs no network.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm
ARG CUDA_IMAGE=nvidia/cuda:12.4.1-cudnn-runtime-ubuntu22.04

# --- voice: the embedded ONNX voice, built with a throwaway TensorFlow venv ----------
# Its own stage, so TensorFlow's download and pip caches never reach an image.
FROM ${PYTHON_IMAGE} AS voice
ENV PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY requirements.txt ./
RUN pip install -r requirements.txt
COPY config ./config
COPY tts ./tts
RUN python -m tts.voices --dir /opt/voice \
 && python -c "from pathlib import Path; from tts.voices.manifest import is_valid; assert is_valid(Path('/opt/voice'))" \
 && python -c "from pathlib import Path; from tts.frontend.segmenter import build; build(Path('/opt/segmenter'))"

# --- gpu: CUDA runtime, Python 3.10 (ModelScope's Sambert code refuses >= 3.11) -----
FROM ${CUDA_IMAGE} AS gpu
ENV DEBIAN_FRONTEND=noninteractive \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
# libsndfile1: ttsfrd/kantts read audio through it; the service's own soundfile wheel
# bundles its libsndfile. Ubuntu's security updates replace exact versions, so the
# base image tag is the pin here.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3.10 python3.10-venv python3-pip libsndfile1 \
 && rm -rf /var/lib/apt/lists/* \
 && python3.10 -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /app
COPY requirements.txt requirements-sambert.txt ./
# requirements.txt pins wheels that need Python >= 3.11 (numpy 2.4, av 18) and the CPU
# onnxruntime; on 3.10 those three come from here and from requirements-sambert.txt
# (which carries the ModelScope wheel index as --find-links for kantts and ttsfrd).
# nvidia-ml-py (imported as pynvml) lets DEGRADE_GPU_UTIL read GPU utilization.
RUN grep -v -E '^(numpy|onnxruntime|av)==' requirements.txt > /tmp/requirements-py310.txt \
 && pip install -r /tmp/requirements-py310.txt -r requirements-sambert.txt \
        onnxruntime-gpu==1.23.2 av==17.1.0 nvidia-ml-py==13.615.71 \
 && rm /tmp/requirements-py310.txt
# Sambert-HiFiGAN weights, fetched now so the pod never reaches the hub; a fixed path
# whatever directory layout the ModelScope version uses.
RUN python -c "import os; from modelscope.hub.snapshot_download import snapshot_download; path = snapshot_download('damo/speech_sambert-hifigan_tts_zh-cn_16k', cache_dir='/opt/models'); os.symlink(path, '/opt/models/sambert-zh-cn-16k')" \
 && test -f /opt/models/sambert-zh-cn-16k/configuration.json
# The ONNX voice too: DEVICE=cuda with ENGINE=onnx, and the CPU copy degrade uses.
COPY --from=voice /opt/voice /opt/voice
COPY --from=voice /opt/segmenter /opt/segmenter
COPY . .
RUN useradd --system --uid 10001 --user-group --no-create-home --home-dir /app tts
ENV ENGINE=sambert \
    DEVICE=auto \
    SAMBERT_MODEL_DIR=/opt/models/sambert-zh-cn-16k \
    TTS_VOICE_DIR=/opt/voice \
    SEGMENTER_DIR=/opt/segmenter \
    MODELSCOPE_CACHE=/opt/models \
    PORT=7860
USER 10001
EXPOSE 7860 7861
HEALTHCHECK --interval=15s --timeout=5s --start-period=120s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '7860'), timeout=4)"]
CMD ["gunicorn", "-c", "gunicorn.conf.py"]

# --- cpu (default): python:3.11-slim, the ONNX voice, no network at run time --------
FROM ${PYTHON_IMAGE} AS cpu
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app
COPY requirements.txt ./
RUN pip install -r requirements.txt
COPY --from=voice /opt/voice /opt/voice
COPY --from=voice /opt/segmenter /opt/segmenter
COPY . .
RUN useradd --system --uid 10001 --user-group --no-create-home --home-dir /app tts
ENV TTS_VOICE_DIR=/opt/voice \
    SEGMENTER_DIR=/opt/segmenter \
    PORT=7860
USER 10001
EXPOSE 7860 7861
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '7860'), timeout=2)"]
CMD ["gunicorn", "-c", "gunicorn.conf.py"]
