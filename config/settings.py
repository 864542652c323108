"""One typed settings object, read from environment variables and checked at start-up.

`SETTINGS` is the single declarative table: it drives parsing, validation
messages, `python -m config` (the README's settings table) and the masking of
secrets when settings are logged.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any


class SettingsError(ValueError):
    """A setting has a value the service cannot run with; the message names it."""


@dataclass(frozen=True)
class Setting:
    env: str
    kind: type
    default: Any
    help: str
    choices: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    secret: bool = False


def _default_voice_dir() -> str:
    cache_home = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return str(Path(cache_home) / "mandarin-tts" / "voices" / "baker-zh")


SETTINGS: tuple[Setting, ...] = (
    Setting("PORT", int, 7860, "TCP port gunicorn binds on 0.0.0.0.", minimum=1, maximum=65535),
    Setting("SOCKETIO_PORT", int, 7861,
            "Port where one elected worker serves Socket.IO to default clients (long-polling "
            "needs one process); 0 turns it off. /socket.io on PORT still takes websocket "
            "clients.", minimum=0, maximum=65535),
    Setting("WORKERS", int, 2, "gunicorn worker processes; each loads its own engine.",
            minimum=1, maximum=64),
    Setting("INFERENCE_THREADS", int, 1,
            "OS threads per worker running synthesis at once (in flight).", minimum=1, maximum=64),
    Setting("ORT_THREADS", int, 2,
            "ONNX Runtime intra-op threads per session. 2 with WORKERS=2 on 2 cores: a "
            "request alone uses both cores (1.7x faster than with 1) for 6% less "
            "throughput at saturation (measured: bench/results/healthz_combinations.md).",
            minimum=1, maximum=64),
    Setting("QUEUE_SIZE", int, 8,
            "Synthesis jobs per worker that may wait for a thread; beyond it: 503.",
            minimum=0, maximum=10000),
    Setting("REQUEST_TIMEOUT_S", float, 30.0,
            "Deadline for one request's synthesis; past it the caller gets 503.",
            minimum=0.1, maximum=600),
    Setting("DRAIN_DELAY_S", float, 0.0,
            "On SIGTERM, seconds a worker keeps serving with /readyz at 503 (so load balancers "
            "stop sending) before it stops accepting and finishes in-flight work.",
            minimum=0, maximum=300),
    Setting("ENGINE", str, "onnx", "Synthesis engine.", choices=("onnx", "sambert")),
    Setting("DEVICE", str, "auto", "Where to run: auto (CUDA if it initializes), cpu or cuda.",
            choices=("auto", "cpu", "cuda")),
    Setting("TTS_VOICE_DIR", Path, None,
            "Directory of the built embedded voice (default ~/.cache/mandarin-tts/voices/"
            "baker-zh)."),
    Setting("SAMBERT_MODEL_DIR", Path, None,
            "ENGINE=sambert: local ModelScope model directory (with configuration.json); "
            "default ~/.cache/mandarin-tts/sambert/<model id>."),
    Setting("SAMBERT_MODEL_ID", str, "damo/speech_sambert-hifigan_tts_zh-cn_16k",
            "ENGINE=sambert: ModelScope model id, fetched only when SAMBERT_DOWNLOAD=1."),
    Setting("SAMBERT_VOICES", str, "zhitian_emo,zhiyan_emo,zhizhe_emo,zhibei_emo",
            "ENGINE=sambert: comma-separated voices to load and warm up (the first is the "
            "default)."),
    Setting("SAMBERT_DOWNLOAD", int, 0,
            "ENGINE=sambert: 1 lets start-up fetch a missing model into SAMBERT_MODEL_DIR "
            "with snapshot_download; 0 never touches the network.",
            minimum=0, maximum=1),
    Setting("SAMBERT_PIPELINE", str, "",
            "ENGINE=sambert: `module:callable` building the pipeline from (model_dir, device); "
            "empty: ModelScope's text-to-speech pipeline. For tests and custom builds."),
    Setting("MAX_TEXT_CHARS", int, 2000, "Longest text accepted per request.",
            minimum=1, maximum=100000),
    Setting("MAX_BATCH_ITEMS", int, 32, "Most items in one /api/tts_batch request.",
            minimum=1, maximum=1000),
    Setting("MAX_BODY_BYTES", int, 1 << 20, "Largest request body accepted.",
            minimum=1024, maximum=1 << 30),
    Setting("CACHE_MEMORY_BYTES", int, 64 << 20,
            "Bound of the in-process audio cache per worker (0 turns it off).",
            minimum=0, maximum=1 << 40),
    Setting("REDIS_URL", str, "", "Redis for the shared cache tier: `redis://` or `rediss://` "
            "(one server), `redis+sentinel://host:26379[,host...]/service[/db]` (Sentinel), "
            "`redis+cluster://host:6379[,host...]` (Cluster); forms and failover in "
            "docs/operations.md. Empty: in-process cache only.", secret=True),
    Setting("CACHE_TTL", int, 86400, "Seconds an entry lives in Redis.", minimum=1,
            maximum=365 * 86400),
    Setting("REDIS_TIMEOUT_S", float, 0.1, "Socket timeout for each Redis call.",
            minimum=0.001, maximum=10),
    Setting("CACHE_WARM_FILE", Path, None,
            "Optional file of phrases (one per line) synthesized into the cache at start-up."),
    Setting("MAX_PIECE_SYLLABLES", int, 20,
            "Longest acoustic pass in syllables: longer clauses are cut at a word boundary. "
            "The voice garbles the ends of long passes (bench/intelligibility.py measures "
            "where).", minimum=4, maximum=200),
    Setting("LEXICON_FILE", Path, None,
            "Optional pronunciation lexicon: `word<TAB>pin1 yin1` per line."),
    Setting("YAO_FOR_ONE", str, "codes",
            "Plain text: `codes` reads 1 as 幺 in phone, room, flight and bus numbers and "
            "codes found by context (电话, 房间, 航班, 验证码...); `never` keeps 一. SSML "
            "`<say-as interpret-as=\"telephone\">` always says 幺.", choices=("codes", "never")),
    Setting("LOG_LEVEL", str, "INFO", "Log level.",
            choices=("DEBUG", "INFO", "WARNING", "ERROR")),
    Setting("API_KEYS", str, "", "Comma-separated bearer keys; when set, /api/* and /v1/* "
            "need `Authorization: Bearer <key>` (probes and /metrics stay open).", secret=True),
    Setting("ADMIN_TOKEN", str, "", "Bearer token for /admin/*; empty: admin routes are off "
            "(404).", secret=True),
    Setting("RATE_LIMIT_PER_S", float, 0.0, "Synthesis requests per second per API key (per "
            "client address without keys) in each worker; beyond it: 429. 0 turns it off.",
            minimum=0, maximum=100000),
    Setting("RATE_LIMIT_BURST", int, 0, "Token bucket size for RATE_LIMIT_PER_S "
            "(0: one second's worth, at least 1).", minimum=0, maximum=100000),
    Setting("DEGRADE_QUEUE_WAIT_S", float, 2.0, "In degrade mode auto, a synthesis job that "
            "waited longer than this for the accelerator moves work to the CPU.",
            minimum=0.001, maximum=600),
    Setting("DEGRADE_GPU_UTIL", float, 90.0, "In degrade mode auto, GPU utilization (percent) "
            "above which work moves to the CPU. Read through NVML only when `pynvml` (package "
            "nvidia-ml-py, in the GPU image) is importable; without it this signal is absent.",
            minimum=1, maximum=100),
    Setting("DEGRADE_FAILURES", int, 3, "Consecutive failed accelerator runs that move work to "
            "the CPU (a GPU out-of-memory error moves it at once).", minimum=1, maximum=1000),
    Setting("DEGRADE_RECOVERY_S", float, 60.0, "Seconds on the CPU before mode auto tries the "
            "accelerator again.", minimum=0.01, maximum=86400),
)


def _parse(spec: Setting, raw: str) -> Any:
    text = raw.strip()
    try:
        value = spec.kind(text)
    except ValueError as exc:
        kind = {int: "an integer", float: "a number", Path: "a path"}.get(spec.kind, spec.kind)
        raise SettingsError(f"{spec.env}={raw!r} is not {kind}") from exc
    if spec.choices and value not in spec.choices:
        raise SettingsError(f"{spec.env}={raw!r} must be one of: {', '.join(spec.choices)}")
    if spec.minimum is not None and value < spec.minimum:
        raise SettingsError(f"{spec.env}={raw!r} must be at least {spec.minimum:g}")
    if spec.maximum is not None and value > spec.maximum:
        raise SettingsError(f"{spec.env}={raw!r} must be at most {spec.maximum:g}")
    return value


def _field_name(env: str) -> str:
    return env.lower()


@dataclass(frozen=True)
class Settings:
    """Everything configurable, resolved and validated. Build with `from_env`."""

    port: int
    socketio_port: int
    workers: int
    inference_threads: int
    ort_threads: int
    queue_size: int
    request_timeout_s: float
    drain_delay_s: float
    engine: str
    device: str
    tts_voice_dir: Path
    sambert_model_dir: Path | None
    sambert_model_id: str
    sambert_voices: str
    sambert_download: int
    sambert_pipeline: str
    max_text_chars: int
    max_batch_items: int
    max_body_bytes: int
    cache_memory_bytes: int
    redis_url: str
    cache_ttl: int
    redis_timeout_s: float
    cache_warm_file: Path | None
    max_piece_syllables: int
    lexicon_file: Path | None
    yao_for_one: str
    log_level: str
    api_keys: str
    admin_token: str
    rate_limit_per_s: float
    rate_limit_burst: int
    degrade_queue_wait_s: float
    degrade_gpu_util: float
    degrade_failures: int
    degrade_recovery_s: float

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for spec in SETTINGS:
            raw = env.get(spec.env)
            values[_field_name(spec.env)] = (
                _parse(spec, raw) if raw not in (None, "") else spec.default
            )
        if values["tts_voice_dir"] is None:
            values["tts_voice_dir"] = Path(_default_voice_dir())
        values.update(overrides)
        settings = cls(**values)
        settings.check_files()
        return settings

    def check_files(self) -> None:
        """Fail at start-up, not at the first request, when a named file is missing."""
        for env, path in (("CACHE_WARM_FILE", self.cache_warm_file),
                          ("LEXICON_FILE", self.lexicon_file)):
            if path is not None and not Path(path).is_file():
                raise SettingsError(f"{env}={str(path)!r} is not a readable file")

    @property
    def api_key_list(self) -> tuple[str, ...]:
        """API_KEYS split on commas, blanks dropped."""
        return tuple(k.strip() for k in self.api_keys.split(",") if k.strip())

    def masked(self) -> dict[str, Any]:
        """Settings safe to log: secrets replaced by '***'."""
        secrets = {_field_name(s.env) for s in SETTINGS if s.secret}
        out: dict[str, Any] = {}
        for item in fields(self):
            value = getattr(self, item.name)
            out[item.name] = "***" if item.name in secrets and value else _plain(value)
        return out


def _plain(value: Any) -> Any:
    return str(value) if isinstance(value, Path) else value


def markdown_table() -> str:
    """The README's settings table, from the same definitions the parser uses."""
    rows = ["| variable | default | allowed | meaning |", "|---|---|---|---|"]
    for spec in SETTINGS:
        default = "(empty)" if spec.default in (None, "") else f"`{spec.default}`"
        if spec.choices:
            allowed = ", ".join(f"`{c}`" for c in spec.choices)
        elif spec.minimum is not None:
            allowed = f"{spec.minimum:g} – {spec.maximum:g}"
        else:
            allowed = spec.kind.__name__.lower()
        rows.append(f"| `{spec.env}` | {default} | {allowed} | {spec.help} |")
    return "\n".join(rows)
