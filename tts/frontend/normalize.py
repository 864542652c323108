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

from .addresses import find_addresses
from .codes import YAO, find_codes

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

# How plain text reads 1 in codes (phone, room, flight numbers...): 幺 or never.
YAO_FOR_ONE = ("codes", "never")

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
    # ranges before a unit: 1-2次 is 一到两次, not 一减二次
    (re.compile(r"(?<![\d.\-:/])(\d+(?:\.\d+)?)\s*[-~～]\s*(?=\d+(?:\.\d+)?\s*"
                r"(?:个|天|次|年|周|小时|分钟|秒|人|元|块|万|千|百|米|公里|千米|公斤|斤|克|岁|倍|件|"
                r"张|份|瓶|盒|名|家|种|号|日|月|级|层|位|条|台|辆|套|斤|工作日))"), r"\1到"),
    # 2 before a measure word is 两 (wetext already says 两个, 两千, 两万, 两天)
    (re.compile(r"(?<![\d.\-:/第])2(?=(?:次|台|倍|遍|趟|回|项|款|份|套|双|对|副|杯|碗|瓶|盒|"
                r"包|箱|袋|支|根|颗|粒|片|篇|本|首|部|场|所|座|栋|间|户|口|头|匹|架|艘|列|批|组|"
                r"轮|季|代人|百分点|周|星期|秒|分钟|小时|吨|公斤|克|升|毫升|厘米|千米|平方米|平米|"
                r"英寸|美元|欧元|英镑|港元|日元|毛|角|种|样|步|声|下|成|只|名|位|个|家|辆|件|张|条|"
                r"天|年(?!级|代)|斤|米|公里|岁|元|块))"), "两"),
    # clock time: 2点30分 is 两点三十分 (2.5分 keeps its dot and stays 二点五分)
    (re.compile(r"(?<![\d.])2(?=点(?:\d{1,2}分|(?!\d)))"), "两"),
    # wetext reads any four digits before 年 as a calendar year (二零零零年); after a
    # word that counts time (距今约5000年, 长达1200年) they are a number of years. The
    # space keeps wetext from the year reading and goes again after it.
    (re.compile(r"(距今|大约|将近|长达|历时|经过|过去|超过|足足|整整|多达|已有|约|近)"
                r"(\d{4})(?=年)"), r"\1\2 "),
]

# (pattern, replacement) applied after wetext, in order.
_POST_RULES: list[tuple[re.Pattern[str], str]] = [
    # ordinals never use 两: 第两天 -> 第二天
    (re.compile(r"第两"), "第二"),
    # the day of a date: wetext says 二月两日 for 2月2日
    (re.compile(r"(?<=月)两(?=[日号])"), "二"),
    # clock time "2点" is 两点 (but 十二点 and the decimal 二点五 are not)
    (re.compile(r"(?<![十零一二三四五六七八九点])二点(?![零一二三四五六七八九])"), "两点"),
    # the space a number of years was given before wetext (see _PRE_RULES)
    (re.compile(r"(?<=[零一二三四五六七八九十百千万两]) (?=年)"), ""),
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

    def __init__(self, yao_for_one: str = "codes") -> None:
        from .grammars import wetext_normalizer

        if yao_for_one not in YAO_FOR_ONE:
            raise ValueError(f"yao_for_one must be one of {YAO_FOR_ONE}, got {yao_for_one!r}")
        self._yao = yao_for_one == "codes"
        self._wetext = wetext_normalizer()(lang="zh", operator="tn")
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
        out: list[str] = []
        pos = 0
        for start, end, spoken in self._spans(text):
            out.append(self._normalize_plain(text[pos:start]))
            out.append(spoken)
            pos = end
        out.append(self._normalize_plain(text[pos:]))
        return re.sub(r"[ ]{2,}", " ", "".join(out)).strip()

    def _spans(self, text: str) -> list[tuple[int, int, str]]:
        """Addresses, file names, versions and codes, already in their spoken form: the
        grammar never sees them (it would read their dots as sentence ends and their
        digits as quantities)."""
        one = YAO if self._yao else "一"
        spans = find_addresses(text, one)
        for span in find_codes(text, one):
            if all(span[1] <= s or span[0] >= e for s, e, _ in spans):
                spans.append(span)
        return sorted(spans)

    def _normalize_plain(self, text: str) -> str:
        if not text:
            return ""
        for pattern, repl in _PRE_RULES:
            text = pattern.sub(repl, text)
        out = "".join(self._wetext_normalize(piece) for piece in _chunks(text))
        if not self._yao and YAO not in text:
            out = out.replace(YAO, "一")  # the grammar's own 幺 in phone numbers
        for post, post_repl in _POST_RULES:
            out = post.sub(post_repl, out)
        # anything the grammar left as digits is read digit by digit
        return "".join(_DIGIT_HAN.get(ch, ch) for ch in out)
