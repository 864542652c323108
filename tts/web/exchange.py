"""What the lifecycle knows about one request while it runs, shared by every layer.

`tts.web.middleware.lifecycle` creates it before anything else sees the request and
keeps it in the WSGI environ; handlers below (the tier-1 hit layer, Flask's routes)
add what only they know: the route, the log fields, whether the answer is whole audio.
The lifecycle turns it into metrics and the log line once the answer has started.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

EXCHANGE = "tts.exchange"  # WSGI environ key; a caller cannot set it (headers are HTTP_*)
ID_LIMIT = 128  # characters of a caller's X-Request-ID kept in headers and logs


def request_id_from(incoming: str) -> str:
    """The caller's X-Request-ID when it is printable (at most ID_LIMIT characters kept),
    otherwise a new random one of 32 hex digits."""
    usable = incoming[:ID_LIMIT] if incoming.isprintable() else ""
    return usable or os.urandom(16).hex()


@dataclass(slots=True)
class Exchange:
    request_id: str
    started: float  # time.perf_counter() when the lifecycle saw the request
    status: int = 0  # set when the response starts; 0: it never did
    route: str | None = None  # route template, when the handler knows it
    whole_audio: bool = False  # finished audio: its time is also a time to first audio
    log: dict[str, Any] = field(default_factory=dict)  # sizes and timings, never the text
