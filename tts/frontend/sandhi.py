"""Tone sandhi and neutral tones, as the Baker corpus labels write them.

Applied to one clause at a time, in this order:
1. 一 and 不 (decided on the citation tone of the next syllable),
2. neutral tones (particles, suffixes, reduplicated kin terms and verbs),
3. third-tone sandhi (3-3 -> 2-3) inside words and onto a one-syllable word
   before another third tone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .word import Word, tone, with_tone

_NUMERALS = set("零一二三四五六七八九十两")
_BIG_UNITS = set("百千万亿")
_PARTICLES = {
    "的": "de5", "了": "le5", "着": "zhe5", "吗": "ma5", "呢": "ne5", "吧": "ba5",
    "啊": "a5", "呀": "ya5", "嘛": "ma5", "啦": "la5", "哦": "o5", "么": "me5",
    "哇": "wa5", "地": "de5",
}
# 地 is a particle only between an adverb-like word and a verb; it is handled
# below rather than through the particle table.
_PARTICLE_ONLY = set(_PARTICLES) - {"地", "着", "了"}

# Reduplicated words whose second syllable is neutral.
_REDUP_NEUTRAL = set(
    "妈爸哥姐弟妹爷奶叔舅姑婶伯婆公姥宝娃星猩太谢蛐蝈娘"
    "看想试说听走尝问聊找玩坐歇瞧摸动练洗读写学算查猜比讲谈"
)
# Verbs that jieba joins with the experiential 过 into one word.
_GUO_VERBS = set("去来吃喝看听见说做玩用试到住学写读买坐")
# Words that end in 子 with a full tone (not the noun suffix).
_ZI_FULL = {
    "孔子", "孟子", "老子", "庄子", "荀子", "墨子", "韩非子", "原子", "电子", "分子", "量子",
    "离子", "因子", "男子", "女子", "君子", "太子", "王子", "公子", "弟子", "孝子", "游子",
    "才子", "仙子", "赤子", "瓜子", "莲子", "棋子", "卵子", "精子", "质子", "中子", "粒子",
    "光子", "天子", "臣子", "学子", "浪子", "骄子", "种子选手",
}


@dataclass
class _Syl:
    """A view of one syllable of a clause: which word, which position."""

    word: int
    index: int
    char: str


def _syllables(words: list[Word]) -> list[_Syl]:
    out: list[_Syl] = []
    for wi, w in enumerate(words):
        if not w.han:
            continue
        for si, ch in enumerate(w.chars):
            out.append(_Syl(wi, si, ch))
    return out


def _get(words: list[Word], s: _Syl) -> str:
    return words[s.word].pinyin[s.index]


def _set(words: list[Word], s: _Syl, syllable: str) -> None:
    words[s.word].pinyin[s.index] = syllable


def _yi_bu(words: list[Word]) -> None:
    syls = _syllables(words)
    # decisions use citation tones, so read them all before changing any
    base = [_get(words, s) for s in syls]
    for k, s in enumerate(syls):
        w = words[s.word]
        if w.fixed or s.char not in "一不":
            continue
        if tone(base[k]) == 5 and len(w.chars) > 1:
            continue  # the phrase dictionary already says neutral (差不多)
        prev = syls[k - 1] if k > 0 and syls[k - 1].word >= s.word - 1 else None
        nxt = syls[k + 1] if k + 1 < len(syls) and syls[k + 1].word <= s.word + 1 else None
        prev_ch = prev.char if prev else ""
        next_ch = nxt.char if nxt else ""
        next_tone = tone(base[k + 1]) if nxt else 0
        if s.char == "不":
            _set(words, s, _bu(prev_ch, next_ch, next_tone))
        else:
            after_next = syls[k + 2].char if nxt and k + 2 < len(syls) else ""
            last_in_word = len(w.chars) > 1 and s.index == len(w.chars) - 1
            _set(words, s, _yi(prev_ch, next_ch, after_next, next_tone, last_in_word))


def _bu(prev_ch: str, next_ch: str, next_tone: int) -> str:
    if prev_ch and prev_ch == next_ch:
        return "bu5"  # A不A
    if next_tone == 4:
        return "bu2"
    return "bu4"


def _yi(prev_ch: str, next_ch: str, after_next: str, next_tone: int, last_in_word: bool) -> str:
    if prev_ch and prev_ch == next_ch and prev_ch not in "一点":
        return "yi5"  # 看一看 (not 点一点 of 一九二点一六八点一点一)
    if prev_ch == "第" or not next_ch or last_in_word:
        return "yi1"  # ordinal, or at the end (统一, 十一)
    if next_ch in _BIG_UNITS:
        pass  # 一百, 一万: ordinary sandhi below
    elif next_ch in "点到" and after_next in _NUMERALS:
        return "yi1"  # decimal 一点五, range 一到三
    elif prev_ch in _NUMERALS | _BIG_UNITS or next_ch in _NUMERALS:
        return "yi1"  # digit strings and numbers (一九九八, 十一, 一十)
    elif next_ch in "月号楼" or (prev_ch and prev_ch in "月点"):
        return "yi1"  # dates, floors, decimals and digit strings (一楼, 一点一)
    if next_tone == 4:
        return "yi2"
    return "yi4"


def _neutral(words: list[Word]) -> None:
    for wi, w in enumerate(words):
        if not w.han or w.fixed or not w.chars:
            continue
        n = len(w.chars)
        if n == 1 and w.text in _PARTICLE_ONLY:
            w.pinyin[0] = _PARTICLES[w.text]
        elif n == 1 and w.text == "过":
            prev = words[wi - 1] if wi > 0 else None
            nxt = words[wi + 1] if wi + 1 < len(words) else None
            if (
                prev is not None and prev.han and len(prev.chars) == 1
                and (nxt is None or nxt.text in _PARTICLES or nxt.text[:1] in "一几")
            ):
                w.pinyin[0] = "guo5"  # 去过, 吃过吗
        elif n >= 2 and w.chars[-1] == "们":
            w.pinyin[-1] = "men5"
        elif n >= 2 and w.chars[-1] == "子":
            w.pinyin[-1] = "zi3" if w.text in _ZI_FULL else "zi5"
        elif n == 2 and w.chars[1] == "过" and w.chars[0] in _GUO_VERBS:
            w.pinyin[1] = "guo5"  # 去过, 看过: the experiential suffix
        elif n == 2 and w.chars[0] == w.chars[1] and w.chars[0] in _REDUP_NEUTRAL:
            w.pinyin[1] = with_tone(w.pinyin[1], 5)


def _third_tone_word(w: Word, is_word: Callable[[str], bool]) -> None:
    tones = [tone(p) for p in w.pinyin]
    n = len(tones)
    if n == 3 and tones == [3, 3, 3] and is_word(w.text[1:]) and not is_word(w.text[:2]):
        w.pinyin[1] = with_tone(w.pinyin[1], 2)  # 纸|老虎: 3 2 3
        return
    # every third tone followed by a third tone inside the word becomes second
    for i in range(n - 1):
        if tones[i] == 3 and tones[i + 1] == 3:
            w.pinyin[i] = with_tone(w.pinyin[i], 2)


def _third_tone(words: list[Word], is_word: Callable[[str], bool]) -> None:
    for w in words:
        if w.han and not w.fixed:
            _third_tone_word(w, is_word)
    # right to left, so that 我|很|好 groups as 我 [很好]: wo3 hen2 hao3
    for wi in range(len(words) - 2, -1, -1):
        left, right = words[wi], words[wi + 1]
        if not (left.han and right.han) or left.fixed or right.brk > 1:
            continue
        if len(left.pinyin) == 1 and tone(left.pinyin[0]) == 3 and tone(right.pinyin[0]) == 3:
            left.pinyin[0] = with_tone(left.pinyin[0], 2)


def apply_sandhi(words: list[Word], is_word: Callable[[str], bool]) -> None:
    """Rewrite the tones of one clause's words in place."""
    _yi_bu(words)
    _neutral(words)
    _third_tone(words, is_word)
