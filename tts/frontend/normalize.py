"""Text normalization: raw request text -> the Chinese text that will be read.

wetext's Chinese TN grammar does the heavy lifting (numbers, dates, times, money,
units, phone numbers). Around it sit a cleaning pass, which makes any string safe
(no surrogates, control or format characters, emoji, unreadable scripts), and a
few rewrites for cases the grammar is known to get wrong.
"""

from __future__ import annotations

import logging
import re
import threading
import unicodedata
from collections.abc import Callable

_LOGGER = logging.getLogger(__name__)

# wetext is quadratic-ish in input length, so it is fed pieces of bounded size,
# cut at sentence punctuation (never inside a number).
_TN_CHUNK_CHARS = 120
_CHUNK_CUT = re.compile(r"(?<=[。！？!?；;\n，、])")

# Characters rewritten before NFKC (NFKC would turn them into something worse).
_PRE_NFKC = {
    "㎡": "平方米",
    "㎥": "立方米",
    "㎠": "平方厘米",
    "〇": "零",
    "\u3000": " ",
}

_DIGIT_HAN = dict(zip("0123456789", "零一二三四五六七八九", strict=True))

# (pattern, replacement) applied before wetext, in order.
_PRE_RULES: list[tuple[re.Pattern[str], str | Callable[[re.Match[str]], str]]] = [
    # very long digit strings are read digit by digit; they also make wetext slow
    (re.compile(r"\d{20,}"), lambda m: "".join(_DIGIT_HAN[d] for d in m[0])),
    # thousands separators: wetext drops the thousands of "3,415.68"
    (re.compile(r"(?<![\d,])(\d{1,3})((?:,\d{3})+)(?![\d,])"), lambda m: m[0].replace(",", "")),
    # "¥35.5元" would be read with two currency words
    (re.compile(r"[¥￥]\s*(\d+(?:\.\d+)?)\s*元"), r"\1元"),
    # negative percentage / fraction: the sign belongs in front
    (re.compile(r"(?<![\dA-Za-z])-(\d+(?:\.\d+)?%)"), r"负\1"),
    (re.compile(r"(?<![\dA-Za-z])-(\d+/\d+)(?![\d/])"), r"负\1"),
    # per mille
    (re.compile(r"(\d+(?:\.\d+)?)\s*‰"), r"千分之\1"),
    # "COVID-19": a hyphen after letters is not a minus sign
    (re.compile(r"(?<=[A-Za-z])-(?=\d)"), " "),
]

# (pattern, replacement) applied after wetext, in order.
_POST_RULES: list[tuple[re.Pattern[str], str]] = [
    # ordinals never use 两: 第两天 -> 第二天
    (re.compile(r"第两"), "第二"),
    # clock time "2点" is 两点 (but 十二点 and the decimal 二点五 are not)
    (re.compile(r"(?<![十零一二三四五六七八九点])二点(?![零一二三四五六七八九])"), "两点"),
]

_HAN_RANGES = (
    (0x3400, 0x4DBF),
    (0x4E00, 0x9FFF),
    (0x20000, 0x2FA1F),
)


def is_han(ch: str) -> bool:
    """True for CJK unified ideographs (the characters pypinyin can read)."""
    code = ord(ch)
    return any(lo <= code <= hi for lo, hi in _HAN_RANGES)


def _clean_char(ch: str) -> str:
    """Map one character to what the rest of the pipeline may see ('' drops it)."""
    if ch == "\n":
        return "\n"
    if ch.isascii():
        if ch.isprintable():
            return ch
        return " " if ch in "\t\r\x0b\x0c" else ""
    if is_han(ch):
        return ch
    cat = unicodedata.category(ch)
    if cat.startswith("P"):
        return ch
    if cat in ("Zs", "Zl", "Zp"):
        return "\n" if cat != "Zs" else " "
    if cat in ("Sm", "Sc") or ch in "°℃℉‰²³":
        return ch
    if cat.startswith("L"):
        # accented Latin letters keep their base letter (é -> e); other scripts drop
        base = "".join(c for c in unicodedata.normalize("NFKD", ch) if c.isascii() and c.isalpha())
        return base
    return ""


def clean(text: str) -> str:
    """Make any string safe: drop unspeakable characters, fold width variants."""
    text = "".join(ch for ch in text if not 0xD800 <= ord(ch) <= 0xDFFF)
    text = "".join(_PRE_NFKC.get(ch, ch) for ch in text)
    text = unicodedata.normalize("NFKC", text)
    text = "".join(_clean_char(ch) for ch in text)
    text = re.sub(r"[ ]{2,}", " ", text)
    return text.strip()


def _chunks(text: str) -> list[str]:
    """Cut text into pieces no longer than _TN_CHUNK_CHARS where possible."""
    pieces = [p for p in _CHUNK_CUT.split(text) if p]
    out: list[str] = []
    for piece in pieces:
        if out and len(out[-1]) + len(piece) <= _TN_CHUNK_CHARS:
            out[-1] += piece
        else:
            out.append(piece)
    # a single piece that is still huge (no punctuation) is cut between
    # non-digit characters so that numbers stay whole
    final: list[str] = []
    for piece in out:
        while len(piece) > _TN_CHUNK_CHARS * 2:
            cut = _TN_CHUNK_CHARS
            while cut < len(piece) and (piece[cut].isdigit() or piece[cut - 1].isdigit()):
                cut += 1
            final.append(piece[:cut])
            piece = piece[cut:]
        final.append(piece)
    return final


class TextNormalizer:
    """Chinese TN over wetext. Build once per process: loading the grammar is slow.

    The underlying kaldifst normalizer is a native object of unknown thread safety,
    so calls into it are serialized by a lock; the Python fixes around it are pure.
    """

    def __init__(self) -> None:
        from wetext import Normalizer

        self._wetext = Normalizer(lang="zh", operator="tn")
        self._lock = threading.Lock()

    def _wetext_normalize(self, piece: str) -> str:
        if not any(ch.isdigit() for ch in piece):
            return piece  # wetext only rewrites text that contains digits
        lead = piece[: len(piece) - len(piece.lstrip())]
        trail = piece[len(piece.rstrip()) :]
        try:
            with self._lock:
                out = str(self._wetext.normalize(piece))
        except Exception:  # the grammar must never take a request down
            _LOGGER.warning("wetext failed on %r; reading digits one by one", piece[:80])
            out = piece
        return lead + out + trail

    def normalize(self, text: str) -> str:
        """Return the text as it will be read: digits and symbols spelled out."""
        text = clean(text)
        for pattern, repl in _PRE_RULES:
            text = pattern.sub(repl, text)
        text = "".join(self._wetext_normalize(piece) for piece in _chunks(text))
        for post, post_repl in _POST_RULES:
            text = post.sub(post_repl, text)
        # anything the grammar left as digits is read digit by digit
        text = "".join(_DIGIT_HAN.get(ch, ch) for ch in text)
        return re.sub(r"[ ]{2,}", " ", text).strip()
