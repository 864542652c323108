"""URLs, e-mail addresses, file names and version numbers, read as a person reads them.

Left alone, their dots are taken for sentence ends (``www.example.com`` became three
sentences) and their digits for quantities. They are found in the cleaned text
before text normalization and replaced by their spoken form, which has no ASCII
punctuation left for the sentence splitter to cut at:

- ``.`` 点, ``@`` 艾特, ``/`` 斜杠, ``_`` 下划线, ``-`` 杠, ``:`` 冒号 (and a few
  rarer symbols of URL queries);
- runs of Latin letters stay Latin: the G2P reads them the way it reads any Latin
  word (a known word as a word, anything else letter by letter), so ``www``,
  ``com``, ``cn`` and ``pdf`` are spelled;
- digits in domains, paths, e-mail addresses and file names are read one by one
  (163.com -> 一六三点com); an all-digit mailbox (a QQ number, a phone number) is
  read as a code, with 1 as 幺 when the caller wants that;
- a version number is read component by component the way Chinese speakers say it:
  a component of one or two digits as a number (v3.10.2 -> V三点十点二, Python 3.12
  -> Python 三点十二), longer ones or ones with a leading zero digit by digit.
"""

from __future__ import annotations

import re

DIGIT_HAN = "零一二三四五六七八九"

SYMBOL_WORDS = {
    ".": "点", "@": "艾特", "/": "斜杠", "_": "下划线", "-": "杠", ":": "冒号",
    "?": "问号", "=": "等于", "&": "和", "#": "井号", "%": "百分号", "~": "波浪号",
    "+": "加",
}

# Top-level domains that make a bare ``name.tld`` a web address.
_TLDS = ("com|net|org|cn|edu|gov|io|ai|co|me|tv|cc|info|top|xyz|biz|hk|tw|mo|jp|kr|uk|us|de|"
         "fr|ru|app|dev|site|online|shop|vip|club|ltd|mobi|asia|tech|store|cloud|wang|link")
# Extensions that make ``name.ext`` a file name.
_EXTENSIONS = ("pdf|docx?|xlsx?|pptx?|txt|csv|json|xml|html?|md|jpe?g|png|gif|bmp|svg|webp|"
               "mp3|mp4|wav|flac|avi|mov|mkv|zip|rar|7z|tar|gz|apk|ipa|exe|dmg|iso|py|js|ts|"
               "java|cpp|go|rs|sh|log|ini|ya?ml|cfg|conf|sql|db|wps|ofd|heic")

_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_URL_CHARS = r"[A-Za-z0-9\-._~:/?#@!$&*+,;=%]"

_EMAIL = re.compile(rf"(?<![A-Za-z0-9_.+\-])[A-Za-z0-9](?:[A-Za-z0-9._+\-]*[A-Za-z0-9])?"
                    rf"@{_LABEL}(?:\.{_LABEL})*\.[A-Za-z]{{2,}}(?![A-Za-z0-9_\-])")
_URL = re.compile(
    rf"(?<![A-Za-z0-9_@.\-])(?:(?:https?|ftp)://{_URL_CHARS}+|www\.{_URL_CHARS}+"
    rf"|{_LABEL}(?:\.{_LABEL})*\.(?:{_TLDS})(?![A-Za-z0-9\-])(?::\d{{1,5}})?"
    rf"(?:[/?#]{_URL_CHARS}*)?)",
    re.IGNORECASE,
)
_FILE = re.compile(rf"(?<![A-Za-z0-9_.@/\-])[A-Za-z0-9][A-Za-z0-9_\-]*(?:\.[A-Za-z0-9_\-]+)*"
                   rf"\.(?:{_EXTENSIONS})(?![A-Za-z0-9_\-])", re.IGNORECASE)
# a Chinese file name: only its extension dot needs reading (the rest is ordinary text)
_HAN_FILE_DOT = re.compile(rf"(?<=[\u4e00-\u9fff])\.(?=(?:{_EXTENSIONS})(?![A-Za-z0-9_\-]))",
                           re.IGNORECASE)
# versions: v-prefixed, after a product name or 版本, or three or more components
_VERSION_V = re.compile(r"(?<![A-Za-z0-9.])([vV])(\d+(?:\.\d+)*)(?!\.?[A-Za-z0-9_])")
# after a product name with a lower-case letter (Python 3.10, iOS 17.2; not USD 1.25) or 版本
_VERSION_NAMED = re.compile(r"(?:(?<![A-Za-z])[A-Za-z]*[a-z][A-Za-z]* ?|版本号?[为是:]?)"
                            r"(\d+(?:\.\d+)+)(?!\.?[A-Za-z0-9_]|[%‰])")
_VERSION_DOTS = re.compile(r"(?<![A-Za-z0-9_.])(\d+(?:\.\d+){2,})(?!\.?[A-Za-z0-9_]|[%‰])")

# trailing characters that end the sentence rather than the address
_TRAILING = ".,;:!?)]}'\"*"


def read_digit_run(digits: str, one: str = "一") -> str:
    """Digits one by one (1 as `one`)."""
    return "".join(one if d == "1" else DIGIT_HAN[int(d)] for d in digits)


def _component(number: str) -> str:
    """One version component: 10 -> 十, 12 -> 十二, 2 -> 二 (never 两), 007 -> 零零七."""
    if len(number) > 2 or (len(number) == 2 and number[0] == "0"):
        return read_digit_run(number)
    value = int(number)
    if value < 10:
        return DIGIT_HAN[value]
    tens, ones = divmod(value, 10)
    return ("十" if tens == 1 else DIGIT_HAN[tens] + "十") + (DIGIT_HAN[ones] if ones else "")


def read_version(numbers: str) -> str:
    """3.10.2 -> 三点十点二."""
    return "点".join(_component(part) for part in numbers.split("."))


def read_address(text: str, one: str = "一") -> str:
    """A URL, e-mail address or file name as spoken: symbols as words, digits one by
    one, Latin letters kept for the G2P to read."""
    out: list[str] = []
    for run in re.findall(r"[A-Za-z]+|\d+|.", text):
        if run[0].isdigit():
            out.append(read_digit_run(run, one))
        elif run[0].isalpha():
            out.append(run)
        else:
            out.append(SYMBOL_WORDS.get(run, ""))
    return "".join(out)


def _read_email(text: str, one: str) -> str:
    local, domain = text.split("@", 1)
    local_words = read_address(local, one if local.isdigit() else "一")
    return local_words + SYMBOL_WORDS["@"] + read_address(domain)


def _trim(text: str, start: int, end: int) -> int:
    """Where an address really ends: without the sentence's own closing punctuation."""
    while end > start and text[end - 1] in _TRAILING:
        if text[end - 1] == ")" and "(" in text[start:end - 1]:
            break
        end -= 1
    return end


def find_addresses(text: str, one: str = "一") -> list[tuple[int, int, str]]:
    """(start, end, spoken) for every address, file name and version in `text`,
    non-overlapping, in order. `one` is how an all-digit mailbox reads 1."""
    spans: list[tuple[int, int, str]] = []

    def free(start: int, end: int) -> bool:
        return all(end <= s or start >= e for s, e, _ in spans)

    for m in _EMAIL.finditer(text):
        spans.append((m.start(), m.end(), _read_email(m[0], one)))
    for m in _URL.finditer(text):
        end = _trim(text, m.start(), m.end())
        if end > m.start() and free(m.start(), end) and "." in text[m.start():end]:
            spans.append((m.start(), end, read_address(text[m.start():end])))
    for m in _FILE.finditer(text):
        if free(m.start(), m.end()):
            spans.append((m.start(), m.end(), read_address(m[0])))
    for m in _HAN_FILE_DOT.finditer(text):
        if free(m.start(), m.end()):
            spans.append((m.start(), m.end(), SYMBOL_WORDS["."]))
    for m in _VERSION_V.finditer(text):
        if free(m.start(), m.end()):
            spans.append((m.start(), m.end(), m[1].upper() + read_version(m[2])))
    for pattern in (_VERSION_NAMED, _VERSION_DOTS):
        for m in pattern.finditer(text):
            parts = m[1].split(".")
            if pattern is _VERSION_DOTS and _is_date_or_ip(parts):
                continue  # wetext reads 2024.5.1 as a date and 192.168.1.1 digit by digit
            if free(m.start(1), m.end(1)):
                spans.append((m.start(1), m.end(1), read_version(m[1])))
    return sorted(spans)


def _is_date_or_ip(parts: list[str]) -> bool:
    if len(parts) == 3 and len(parts[0]) == 4 and 1 <= int(parts[1]) <= 12 \
            and 1 <= int(parts[2]) <= 31:
        return True
    return len(parts) == 4 and all(int(p) <= 255 for p in parts)
