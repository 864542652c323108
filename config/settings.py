"""One typed settings object, read from environment variables and checked at start-up.

Each setting is declared once, as a field of `Settings`: its name and type are the
field's, its default, bounds, help and secrecy sit in the field's metadata (see
`setting`). `SETTINGS`, the table derived from those fields, drives parsing,
validation messages, `python -m config` (the docs' settings table and `--help`) and
the masking of secrets when settings are logged.
"""

from __future__ import annotations

import os
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, get_args, get_type_hints


class SettingsError(ValueError):
    """A setting has a value the service cannot run with; the message names it."""


@dataclass(frozen=True)
class Setting:
    """One environment variable as the parser and the docs see it."""

    env: str
    kind: type
    default: Any
    help: str
    choices: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    secret: bool = False
    file: bool = False  # names a file that must exist at start-up


def setting(default: Any, help: str, *, choices: tuple[str, ...] = (),
            minimum: float | None = None, maximum: float | None = None,
            secret: bool = False, file: bool = False) -> Any:
    """Declare a `Settings` field. The default lives in the metadata, not on the
    field, so a `Settings` is only ever built complete, by `from_env`."""
    return field(metadata={"default": default, "help": help, "choices": choices,
                           "minimum": minimum, "maximum": maximum, "secret": secret,
                           "file": file})


def cache_dir() -> Path:
    """The project's per-user cache directory (voices, graphs, segmenter, models), outside
    the repository; `$XDG_CACHE_HOME` is honoured."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "mandarin-tts"


def _default_voice_dir() -> str:
    return str(cache_dir() / "voices" / "baker-zh")


@dataclass(frozen=True)
class Settings:
    """Everything configurable, resolved and validated. Build with `from_env`.

    Field `name` is environment variable `NAME`; `Path | None` parses as a path."""

    port: int = setting(7860, "TCP port gunicorn binds on 0.0.0.0.", minimum=1, maximum=65535)
    socketio_port: int = setting(
        7861,
        "Port where one elected worker serves Socket.IO to default clients (long-polling "
        "needs one process); 0 turns it off. /socket.io on PORT still takes websocket "
        "clients.", minimum=0, maximum=65535)
    workers: int = setting(
        2, "gunicorn worker processes; each loads its own engine.",
        minimum=1, maximum=64)
    inference_threads: int = setting(
        1,
        "OS threads per worker running synthesis at once (in flight).", minimum=1, maximum=64)
    ort_threads: int = setting(
        2,
        "ONNX Runtime intra-op threads per session. 2 with WORKERS=2 on 2 cores: a "
        "request alone uses both cores (1.7x faster than with 1) for 6% less "
        "throughput at saturation (measured: bench/results/healthz_combinations.md).",
        minimum=1, maximum=64)
    queue_size: int = setting(
        8,
        "Most synthesis requests per worker that may wait for a thread; beyond it: 503.",
        minimum=0, maximum=10000)
    queue_wait_s: float = setting(
        2.0,
        "Longest expected wait for a thread (from the measured cost of recent requests) "
        "at which a worker still queues a request (one per thread always may); beyond "
        "it: 503 with Retry-After.",
        minimum=0, maximum=600)
    request_timeout_s: float = setting(
        30.0,
        "Deadline for one request's synthesis; past it the caller gets 503.",
        minimum=0.1, maximum=600)
    drain_delay_s: float = setting(
        0.0,
        "On SIGTERM, seconds a worker keeps serving with /readyz at 503 (so load balancers "
        "stop sending) before it stops accepting and finishes in-flight work.",
        minimum=0, maximum=300)
    max_requests: int = setting(
        20000,
        "Requests after which gunicorn replaces a worker (against slow leaks); the "
        "replacement takes connections only once its engine is warm. 0 turns it off.",
        minimum=0, maximum=10**9)
    max_requests_jitter: int = setting(
        2000,
        "Random extra requests (0 to this) per worker before its replacement, so the "
        "workers are not replaced at once.", minimum=0, maximum=10**9)
    engine: str = setting("onnx", "Synthesis engine.", choices=("onnx", "sambert"))
    device: str = setting(
        "auto", "Where to run: auto (CUDA if it initializes), cpu or cuda.",
        choices=("auto", "cpu", "cuda"))
    tts_voice_dir: Path = setting(
        None,
        "Directory of the built embedded voice (default ~/.cache/mandarin-tts/voices/"
        "baker-zh).")
    segmenter_dir: Path | None = setting(
        None,
        "Directory of the word segmenter's table (jieba's dictionary as a memory-mapped "
        "trie that every worker shares), built there when missing; default "
        "~/.cache/mandarin-tts/segmenter/jieba-<version>.")
    sambert_model_dir: Path | None = setting(
        None,
        "ENGINE=sambert: local ModelScope model directory (with configuration.json); "
        "default ~/.cache/mandarin-tts/sambert/<model id>.")
    sambert_model_id: str = setting(
        "damo/speech_sambert-hifigan_tts_zh-cn_16k",
        "ENGINE=sambert: ModelScope model id, fetched only when SAMBERT_DOWNLOAD=1.")
    sambert_voices: str = setting(
        "zhitian_emo,zhiyan_emo,zhizhe_emo,zhibei_emo",
        "ENGINE=sambert: comma-separated voices to load and warm up (the first is the "
        "default).")
    sambert_download: int = setting(
        0,
        "ENGINE=sambert: 1 lets start-up fetch a missing model into SAMBERT_MODEL_DIR "
        "with snapshot_download; 0 never touches the network.",
        minimum=0, maximum=1)
    sambert_pipeline: str = setting(
        "",
        "ENGINE=sambert: `module:callable` building the pipeline from (model_dir, device); "
        "empty: ModelScope's text-to-speech pipeline. For tests and custom builds.")
    max_text_chars: int = setting(
        2000, "Longest text accepted per request.",
        minimum=1, maximum=100000)
    max_batch_items: int = setting(
        32, "Most items in one /api/tts_batch request.",
        minimum=1, maximum=1000)
    max_body_bytes: int = setting(
        1 << 20, "Largest request body accepted.",
        minimum=1024, maximum=1 << 30)
    cache_memory_bytes: int = setting(
        64 << 20,
        "Bound of the in-process audio cache per worker (0 turns it off).",
        minimum=0, maximum=1 << 40)
    redis_url: str = setting(
        "", "Redis for the shared cache tier: `redis://` or `rediss://` "
        "(one server), `redis+sentinel://host:26379[,host...]/service[/db]` (Sentinel), "
        "`redis+cluster://host:6379[,host...]` (Cluster); forms and failover in "
        "docs/operations.md. Empty: in-process cache only.", secret=True)
    cache_ttl: int = setting(
        86400, "Seconds an entry lives in Redis.", minimum=1,
        maximum=365 * 86400)
    redis_timeout_s: float = setting(
        0.1, "Socket timeout for each Redis call.",
        minimum=0.001, maximum=10)
    cache_warm_file: Path | None = setting(
        None,
        "Optional file of phrases (one per line) synthesized into the cache at start-up.",
        file=True)
    max_piece_syllables: int = setting(
        20,
        "Longest acoustic pass in syllables: longer clauses are cut at a word boundary. "
        "The voice garbles the ends of long passes (bench/intelligibility.py measures "
        "where).", minimum=4, maximum=200)
    lexicon_file: Path | None = setting(
        None, "Optional pronunciation lexicon: `word<TAB>pin1 yin1` per line.", file=True)
    yao_for_one: str = setting(
        "codes",
        "Plain text: `codes` reads 1 as 幺 in phone, room, flight and bus numbers and "
        "codes found by context (电话, 房间, 航班, 验证码...); `never` keeps 一. SSML "
        "`<say-as interpret-as=\"telephone\">` always says 幺.", choices=("codes", "never"))
    log_level: str = setting(
        "INFO", "Log level.",
        choices=("DEBUG", "INFO", "WARNING", "ERROR"))
    api_keys: str = setting(
        "", "Comma-separated bearer keys; when set, /api/* and /v1/* "
        "need `Authorization: Bearer <key>` (probes and /metrics stay open).", secret=True)
    admin_token: str = setting(
        "", "Bearer token for /admin/*; empty: admin routes are off "
        "(404).", secret=True)
    rate_limit_per_s: float = setting(
        0.0, "Synthesis requests per second per API key (per client address without "
        "keys) for the whole pod, and across pods with REDIS_URL; beyond it: 429. 0 turns "
        "it off.",
        minimum=0, maximum=100000)
    rate_limit_burst: int = setting(
        0, "Requests per window for RATE_LIMIT_PER_S; the window lasts burst / rate "
        "seconds (0: one second's worth, at least 1).", minimum=0, maximum=100000)
    degrade_queue_wait_s: float = setting(
        2.0, "In degrade mode auto, a synthesis job that "
        "waited longer than this for the accelerator moves work to the CPU.",
        minimum=0.001, maximum=600)
    degrade_gpu_util: float = setting(
        90.0, "In degrade mode auto, GPU utilization (percent) "
        "above which work moves to the CPU. Read through NVML only when `pynvml` (package "
        "nvidia-ml-py, in the GPU image) is importable; without it this signal is absent.",
        minimum=1, maximum=100)
    degrade_failures: int = setting(
        3, "Consecutive failed accelerator runs that move work to "
        "the CPU (a GPU out-of-memory error moves it at once).", minimum=1, maximum=1000)
    degrade_recovery_s: float = setting(
        60.0, "Seconds on the CPU before mode auto tries the "
        "accelerator again.", minimum=0.01, maximum=86400)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for spec in SETTINGS:
            raw = env.get(spec.env)
            values[spec.env.lower()] = (
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
        for spec in SETTINGS:
            path = getattr(self, spec.env.lower())
            if spec.file and path is not None and not Path(path).is_file():
                raise SettingsError(f"{spec.env}={str(path)!r} is not a readable file")

    @property
    def api_key_list(self) -> tuple[str, ...]:
        """API_KEYS split on commas, blanks dropped."""
        return tuple(k.strip() for k in self.api_keys.split(",") if k.strip())

    def masked(self) -> dict[str, Any]:
        """Settings safe to log: secrets replaced by '***'."""
        out: dict[str, Any] = {}
        for spec in SETTINGS:
            value = getattr(self, spec.env.lower())
            out[spec.env.lower()] = "***" if spec.secret and value else _plain(value)
        return out


def _kind(hint: Any) -> type:
    """The type a raw value is parsed with: `Path | None` parses as `Path`."""
    kinds = [arg for arg in get_args(hint) if arg is not type(None)]
    return kinds[0] if kinds else hint


def _table() -> tuple[Setting, ...]:
    hints = get_type_hints(Settings)
    return tuple(Setting(env=item.name.upper(), kind=_kind(hints[item.name]), **item.metadata)
                 for item in fields(Settings))


SETTINGS: tuple[Setting, ...] = _table()


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


def _plain(value: Any) -> Any:
    return str(value) if isinstance(value, Path) else value


def _default_text(spec: Setting) -> str:
    return "(empty)" if spec.default in (None, "") else f"`{spec.default}`"


def _allowed_text(spec: Setting) -> str:
    if spec.choices:
        return ", ".join(f"`{c}`" for c in spec.choices)
    if spec.minimum is not None:
        return f"{spec.minimum:g} – {spec.maximum:g}"
    return spec.kind.__name__.lower()


def markdown_table() -> str:
    """The docs' settings table, from the same definitions the parser uses."""
    rows = ["| variable | default | allowed | meaning |", "|---|---|---|---|"]
    rows += [f"| `{spec.env}` | {_default_text(spec)} | {_allowed_text(spec)} | {spec.help} |"
             for spec in SETTINGS]
    return "\n".join(rows)


def help_text(width: int = 79) -> str:
    """The settings as plain text, for `python -m config --help`."""
    blocks = []
    for spec in SETTINGS:
        head = f"{spec.env} ({_allowed_text(spec)}; default {_default_text(spec)})"
        body = textwrap.fill(spec.help, width, initial_indent="    ",
                             subsequent_indent="    ")
        blocks.append(f"  {head}\n{body}".replace("`", ""))
    return "\n".join(blocks)
