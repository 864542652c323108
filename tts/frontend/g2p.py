"""Grapheme to pinyin for one clause: segmentation, lexicons, polyphone rules,
sandhi and erhua.

Precedence for a word's reading: operator lexicon (longest match on the raw
clause, never changed afterwards) > built-in lexicon > pypinyin's phrase
dictionary, then the polyphone rule table for the characters it names.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from pathlib import Path
from typing import cast

from pypinyin import Style, lazy_pinyin

from .letters import is_latin_word, latin_pinyin
from .normalize import is_han
from .rules import PolyphoneRule, load_builtin_lexicon, load_polyphone_rules
from .sandhi import apply_sandhi
from .segmenter import load_tokenizer
from .word import Word, tone

_LOGGER = logging.getLogger(__name__)

_TOKEN = re.compile(r"(?P<han>[\u3400-\u4dbf\u4e00-\u9fff\U00020000-\U0002fa1f]+)"
                    r"|(?P<latin>[A-Za-z]+(?:['-][A-Za-z]+)*)"
                    r"|(?P<space>\s+)")

# 儿 after these words is its own syllable, not an r-colouring.
_NOT_ERHUA = {
    "女儿", "儿女", "婴儿", "幼儿", "孤儿", "男儿", "健儿", "宠儿", "胎儿", "少儿", "患儿",
    "孙儿", "侄儿", "新生儿", "混血儿", "弄潮儿", "育儿", "托儿", "产儿", "乳儿", "孩儿",
    "儿儿", "幸运儿", "低能儿", "残疾儿", "宁馨儿",
}


_NUMERAL_CHARS = set("零一二三四五六七八九十百千万亿两点幺")

# one-character degree adverbs jieba glues to the adjective after them (很漂亮)
_DEGREE_PREFIXES = set("很太真挺更最好")

# a word ending in one of these counts a piece of land (这块地, 三亩地): 地 is di4
_LAND_MEASURES = set("块片亩顷座处个种")


def _reduplicated(text: str) -> bool:
    """AA, ABB or AABB: the shapes of descriptive adverbs (慢慢, 兴冲冲, 认认真真)."""
    n = len(text)
    return (n >= 2 and text[-1] == text[-2]) or (n == 4 and text[0] == text[1])


def _read_adverbial_de(words: list[Word]) -> None:
    """地 after an adverbial before the verb it describes is the particle de5
    (快乐地成长, 慢慢地走); the noun 地 (土地, 这块地, 在地上) keeps di4.

    jieba leaves the particle as its own word after most two-character words, glues
    it to reduplicated adverbs (轻轻地) and sometimes to the verb after them (地走了).
    """
    for wi, w in enumerate(words):
        if not w.han or w.fixed or "地" not in w.text:
            continue
        prev = words[wi - 1] if wi > 0 else None
        nxt = words[wi + 1] if wi + 1 < len(words) else None
        prev_ok = prev is not None and prev.han and not prev.fixed and prev.brk <= 1 \
            and w.brk <= 1
        if len(w.text) >= 3 and w.text[-1] == "地" and _reduplicated(w.text[:-1]):
            w.pinyin[-1] = "de5"  # 轻轻地, 兴冲冲地
        elif w.text == "地" and prev_ok and nxt is not None and nxt.han and nxt.brk <= 1:
            assert prev is not None
            if len(prev.text) >= 2 and prev.text[-1] not in _LAND_MEASURES \
                    and not set(prev.text) & _NUMERAL_CHARS:
                w.pinyin[0] = "de5"  # 快乐地, 认真地
        elif w.text[0] == "地" and len(w.text) >= 2 and prev_ok:
            assert prev is not None
            if len(prev.text) >= 2 and _reduplicated(prev.text):
                w.pinyin[0] = "de5"  # 慢慢|地走了


def _join_numerals(segments: list[str]) -> list[str]:
    """Keep a spelled-out number one word (二零二零 is one prosodic word)."""
    out: list[str] = []
    for seg in segments:
        if out and set(out[-1]) <= _NUMERAL_CHARS:
            # move a leading numeral run (五 of 五元) onto the number before it
            k = 0
            while k < len(seg) and seg[k] in _NUMERAL_CHARS:
                k += 1
            if k:
                out[-1] += seg[:k]
                seg = seg[k:]
        if seg:
            out.append(seg)
    return out


# pypinyin hands runs it cannot read to this callback; one empty reading per char
# keeps the output aligned with the input (its stubs say str, lists are accepted)
_unreadable = cast("Callable[[str], str]", lambda chars: [""] * len(chars))


def _char_pinyin(ch: str) -> str:
    out = lazy_pinyin(ch, style=Style.TONE3, neutral_tone_with_five=True, errors=_unreadable)
    return out[0] if out else ""


class G2P:
    """Clause text -> words with final pinyin. Build once; thread-safe afterwards.

    The segmenter's table is mapped from files (tts.frontend.segmenter); words the
    lexicons add go on top of it here, so lookups at request time are read-only.
    """

    def __init__(self, lexicon: dict[str, list[str]] | None = None,
                 segmenter_dir: Path | None = None) -> None:
        self._lexicon = dict(lexicon or {})
        self._builtin = load_builtin_lexicon()
        self._rules: dict[str, list[PolyphoneRule]] = load_polyphone_rules()
        self._jieba = load_tokenizer(segmenter_dir)
        for word in list(self._builtin) + list(self._lexicon):
            if all(is_han(ch) for ch in word):
                self._jieba.add_word(word, freq=None)
        self._by_first: dict[str, list[str]] = {}
        for word in sorted(self._lexicon, key=len, reverse=True):
            self._by_first.setdefault(word[0], []).append(word)
        self._lock = threading.Lock()

    def is_word(self, text: str) -> bool:
        """True if the segmenter's dictionary knows `text` as a word."""
        return bool(self._jieba.FREQ.get(text))

    # -- tokenizing -----------------------------------------------------------

    def _segment(self, text: str) -> list[str]:
        # jieba's cut reads shared state only, but be conservative about it
        with self._lock:
            return list(self._jieba.cut(text, HMM=False))

    def _lexicon_spans(self, clause: str) -> list[tuple[int, int]]:
        """Non-overlapping operator lexicon matches, longest first, left to right."""
        spans: list[tuple[int, int]] = []
        i = 0
        while i < len(clause):
            for word in self._by_first.get(clause[i], ()):
                if clause.startswith(word, i):
                    spans.append((i, i + len(word)))
                    i += len(word)
                    break
            else:
                i += 1
        return spans

    def _words(self, clause: str) -> list[Word]:
        words: list[Word] = []
        brk = 1
        pos = 0
        for start, end in [*self._lexicon_spans(clause), (len(clause), len(clause))]:
            for m in _TOKEN.finditer(clause[pos:start]):
                if m.lastgroup == "space":
                    brk = 2
                    continue
                token = m.group()
                if m.lastgroup == "latin":
                    if is_latin_word(token):
                        words.append(Word(token, latin_pinyin(token), han=False, brk=brk))
                else:
                    for seg in _join_numerals(self._segment(token)):
                        words.append(self._han_word(seg, brk))
                        brk = 1
                brk = 1
            if end > start:
                entry = clause[start:end]
                words.append(Word(entry, list(self._lexicon[entry]), han=False, fixed=True,
                                  brk=brk))
                brk = 1
            pos = end
        return [w for w in words if w.pinyin]

    def _han_word(self, text: str, brk: int) -> Word:
        if text in self._builtin:
            return Word(text, list(self._builtin[text]), brk=brk)
        if len(text) >= 3 and text[0] in _DEGREE_PREFIXES and text[1:] in self._builtin:
            # jieba keeps 很漂亮, 太麻烦 as one word: the lexicon still says 漂亮 piao4 liang5
            return Word(text, [_char_pinyin(text[0]), *self._builtin[text[1:]]], brk=brk)
        pinyin = lazy_pinyin(text, style=Style.TONE3, neutral_tone_with_five=True,
                             errors=_unreadable)
        if len(pinyin) != len(text):  # defensive: keep characters and syllables aligned
            pinyin = [_char_pinyin(ch) for ch in text]
        # characters pypinyin cannot read are dropped
        kept = [(ch, py) for ch, py in zip(text, pinyin, strict=True) if py]
        return Word("".join(ch for ch, _ in kept), [py for _, py in kept], brk=brk)

    # -- readings ---------------------------------------------------------------

    def _apply_rules(self, words: list[Word], clause_chars: list[str]) -> None:
        pos = 0
        for w in words:
            if w.han and w.text not in self._builtin:
                for i, ch in enumerate(w.chars):
                    for rule in self._rules.get(ch, ()):
                        left = "".join(clause_chars[: pos + i])
                        right = "".join(clause_chars[pos + i + 1 :])
                        if rule.matches(w.text, left, right):
                            w.pinyin[i] = rule.reading
                            break
            pos += len(w.chars) if w.han else 1

    @staticmethod
    def _merge_erhua(words: list[Word]) -> None:
        """Fold an r-colouring 儿 into the syllable before it (哪儿 -> nar3)."""
        for wi, w in enumerate(words):
            if not w.han or w.fixed:
                continue
            if len(w.chars) >= 2 and w.chars[-1] == "儿" and w.text not in _NOT_ERHUA:
                if tone(w.pinyin[-1]) == 5 and not w.pinyin[-2].startswith("er"):
                    prev = w.pinyin[-2]
                    w.pinyin[-2:] = [f"{prev[:-1]}r{prev[-1]}"]
            elif w.text == "儿" and wi > 0:
                prev_w = words[wi - 1]
                if prev_w.han and not prev_w.fixed and prev_w.pinyin and \
                        prev_w.text + "儿" not in _NOT_ERHUA and \
                        not prev_w.pinyin[-1].startswith("er"):
                    last = prev_w.pinyin[-1]
                    prev_w.pinyin[-1] = f"{last[:-1]}r{last[-1]}"
                    prev_w.text += "儿"
                    w.pinyin = []
        words[:] = [w for w in words if w.pinyin]

    def convert(self, clause: str) -> list[Word]:
        """Words of one clause with their final (spoken) pinyin."""
        words = self._words(clause)
        chars = [c for w in words for c in (w.chars if w.han else ["\x00"])]
        self._apply_rules(words, chars)
        _read_adverbial_de(words)
        apply_sandhi(words, self.is_word)
        self._merge_erhua(words)
        return words
