"""Cache keys: one canonical request, one key.

Every field that changes the audio is part of the key, including the engine and the
voice's model hash, so a new model never serves audio made by the old one. The
caller passes values already resolved (voice defaults applied, text normalized by
the front end); this module only makes the spelling canonical.
"""

from __future__ import annotations

import hashlib
import json
import unicodedata

KEY_PREFIX = "tts:"
LOCK_PREFIX = "tts:lock:"

# Bumped when the canonical form changes, so old entries simply stop matching.
_KEY_SCHEMA = 1


def request_key(
    *,
    text: str,
    voice: str,
    emotion: str,
    speed: float,
    fmt: str,
    sample_rate: int,
    engine: str,
    model_hash: str,
) -> str:
    """'tts:' + md5 hex of a canonical JSON of the fields.

    The JSON has sorted keys, compact separators, UTF-8 text and a schema version.
    Text is NFC-normalized (canonically equal strings give one key); speed is rounded
    so 1.0 and 1.0000001 share audio. Raises ValueError for a non-finite speed.
    """
    fields = {
        "v": _KEY_SCHEMA,
        "text": unicodedata.normalize("NFC", text),
        "voice": voice,
        "emotion": emotion,
        "speed": round(float(speed), 3),
        "format": fmt,
        "sample_rate": int(sample_rate),
        "engine": engine,
        "model_hash": model_hash,
    }
    canonical = json.dumps(
        fields, sort_keys=True, ensure_ascii=False, separators=(",", ":"), allow_nan=False
    )
    digest = hashlib.md5(canonical.encode("utf-8"), usedforsecurity=False).hexdigest()
    return KEY_PREFIX + digest


def lock_key(key: str) -> str:
    """The cross-process lock for a value key: 'tts:<md5>' -> 'tts:lock:<md5>'."""
    digest = key[len(KEY_PREFIX) :] if key.startswith(KEY_PREFIX) else key
    return LOCK_PREFIX + digest
