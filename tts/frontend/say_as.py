"""How <say-as> content is read out: digits, phone numbers, dates and cardinals
in Chinese words.

Kept apart from SSML parsing because it knows nothing about markup: each reader
takes the element's text and returns what to say, or raises ValueError saying
why the text is not that kind of thing (the parser adds which element it was).
"""

from __future__ import annotations

import re
from collections.abc import Callable

_DIGITS = "零一二三四五六七八九"


def read_digits(text: str, one: str = "一") -> str:
    """Every digit on its own: 2024 -> 二零二四 (other characters kept)."""
    return "".join((one if ch == "1" else _DIGITS[int(ch)]) if ch.isdigit() and ch.isascii()
                   else ch for ch in text)


def read_telephone(text: str) -> str:
    """Digit by digit with 1 as 幺; separators become light phrase breaks."""
    groups = [g for g in re.split(r"[\s\-().]+", text.strip().lstrip("+")) if g]
    if not groups or not all(g.isdigit() and g.isascii() for g in groups):
        raise ValueError(f"{text!r} is not a phone number (digits, spaces, dashes, brackets)")
    return " ".join(read_digits(g, one="幺") for g in groups)


def read_cardinal(text: str) -> str:
    """An integer or decimal number in words: 12345 -> 一万二千三百四十五."""
    m = re.fullmatch(r"\s*([+-]?)(\d{1,16})(?:\.(\d+))?\s*", text.replace(",", ""))
    if not m:
        raise ValueError(f"{text!r} is not a number")
    words = ("负" if m[1] == "-" else "") + _integer(int(m[2]))
    if m[3]:
        words += "点" + read_digits(m[3])
    return words


def _below_10000(n: int) -> str:
    out, zero = "", False
    for value, unit in ((1000, "千"), (100, "百"), (10, "十"), (1, "")):
        digit = n // value % 10
        if digit:
            if zero and out:
                out += "零"
            out += _DIGITS[digit] + unit
            zero = False
        else:
            zero = True
    return out


def _integer(n: int) -> str:
    if n == 0:
        return "零"
    parts: list[str] = []
    units = ("", "万", "亿", "万亿")
    group = 0
    need_zero = False
    while n:
        n, chunk = divmod(n, 10000)
        if chunk:
            words = _below_10000(chunk) + units[group]
            if need_zero:
                words += "零"
            parts.append(words)
            need_zero = chunk < 1000 and n > 0
        else:
            need_zero = bool(parts)
        group += 1
    text = "".join(reversed(parts)).replace("零零", "零").rstrip("零")
    if text.startswith("一十"):  # 一十五 is read 十五
        text = text[1:]
    return text


def read_date(text: str) -> str:
    """2024-05-01, 2024/5/1, 2024.5.1 or 2024年5月1日 -> 二零二四年五月一日."""
    m = re.fullmatch(r"\s*(\d{4})\s*[-/.年]\s*(\d{1,2})\s*(?:[-/.月]\s*(\d{1,2})\s*日?)?"
                     r"\s*(?:月)?\s*", text)
    if not m or not 1 <= int(m[2]) <= 12 or (m[3] and not 1 <= int(m[3]) <= 31):
        raise ValueError(f"{text!r} is not a date like 2024-05-01")
    out = f"{read_digits(m[1])}年{_integer(int(m[2]))}月"
    if m[3]:
        out += f"{_integer(int(m[3]))}日"
    return out


READERS: dict[str, Callable[[str], str]] = {
    "digits": read_digits,
    "telephone": read_telephone,
    "date": read_date,
    "cardinal": read_cardinal,
}
"""interpret-as value -> reader; the keys are the interpret-as values SSML accepts."""
