"""Pack a sentence's clauses into acoustic passes the voice can say.

The voice was trained on short sentences and garbles the ends of long passes, so
every pass is kept within `max_syllables`. Clauses are packed whole while they
fit; a clause too long for one pass is cut between words, at the cut points a
reader would pause at (before a conjunction or preposition, at a phrase break),
with passes of even length, and never inside a word unless the word alone is
longer than a pass.
"""

from __future__ import annotations

from dataclasses import dataclass

from .word import Word

# Silence added after a pass, on top of the edge silence the voice makes itself
# (about 0.15 s in all): a full stop is heard as a longer pause than a comma, and
# a cut inside a clause adds nothing, so it sounds like a short phrase break.
SENTENCE_PAUSE_S = 0.3
CLAUSE_PAUSE_S = 0.06
WORD_PAUSE_S = 0.0
CLAUSE_BREAK = 3  # prosody mark between clauses packed into one pass

# Words a phrase starts with: a cut just before them is where a reader breathes.
_PHRASE_OPENERS = frozenset({
    "和", "与", "跟", "及", "以及", "并", "并且", "而", "而且", "但", "但是",
    "却", "可是", "不过", "或", "或者", "还是", "因为", "因此", "所以", "如果",
    "要是", "虽然", "尽管", "即使", "然后", "于是", "只是", "同时", "以便", "以免",
    "在", "把", "被", "将", "对", "对于", "从", "向", "往", "给", "为了",
    "通过", "根据", "按照", "关于", "由于", "除了", "随着", "经过", "让", "使",
    "比", "当", "等到", "直到", "以后", "之后", "以前", "之前", "的时候", "时"
})
# Words that lean on the word before them: never start a pass with one.
_CLITICS = frozenset({
    "的", "地", "得", "了", "着", "过", "们", "吗", "呢", "吧", "啊", "呀",
    "嘛", "啦", "哦", "之", "所"
})
_MODIFIER_ENDS = ("的", "地", "得")  # a cut after these parts a modifier from its head
_NUMERALS = frozenset("零一二三四五六七八九十百千万亿两点幺")

_OPENER_BONUS = 2.0
_PHRASE_BREAK_BONUS = 3.0
_CLITIC_PENALTY = 8.0
_MODIFIER_PENALTY = 2.0
_DANGLING_PENALTY = 4.0  # a pass that ends on an opener or on a number (its unit follows)
_UNEVEN_WEIGHT = 0.05  # cost per squared syllable of a pass's distance from an even cut


@dataclass
class Piece:
    """Words for one future acoustic pass, and the pause after it."""

    words: list[Word]
    pause_s: float
    tight_start: bool = False  # cut from the same clause as the piece before
    tight_end: bool = False  # ... as the piece after

    @property
    def syllables(self) -> int:
        return sum(len(w.pinyin) for w in self.words)


def pack(clauses: list[list[Word]], max_syllables: int, *, first_alone: bool) -> list[Piece]:
    """One sentence's clauses (as words) -> passes of at most `max_syllables`.

    `first_alone` ends the first pass after the first clause, so a stream's first
    audio needs only that clause's acoustic pass.
    """
    pieces: list[Piece] = []
    current: list[Word] = []
    used = 0
    for words in (c for c in clauses if c):
        count = sum(len(w.pinyin) for w in words)
        if current and (used + count > max_syllables or (first_alone and not pieces)):
            pieces.append(Piece(current, CLAUSE_PAUSE_S))
            current, used = [], 0
        if count > max_syllables:
            pieces.extend(cut_clause(words, max_syllables))
            continue
        if current:
            words[0].brk = CLAUSE_BREAK
        current.extend(words)
        used += count
    if current:
        pieces.append(Piece(current, CLAUSE_PAUSE_S))
    if pieces:
        pieces[-1].pause_s = SENTENCE_PAUSE_S
    return pieces


def cut_clause(words: list[Word], max_syllables: int) -> list[Piece]:
    """Cut one over-long clause between words into passes of even length, at the
    cheapest cut points (dynamic programming over word boundaries)."""
    parts = _split_long_words(words, max_syllables)
    sizes = [len(p.pinyin) for p in parts]
    total = sum(sizes)
    passes = -(-total // max_syllables)
    target = total / passes
    # best[j]: cheapest way to say parts[:j]; back[j]: where its last pass starts
    best = [0.0] + [float("inf")] * len(parts)
    back = [0] * (len(parts) + 1)
    for j in range(1, len(parts) + 1):
        length = 0
        for i in range(j - 1, -1, -1):
            length += sizes[i]
            if length > max_syllables:
                break
            cost = best[i] + _UNEVEN_WEIGHT * (length - target) ** 2
            if j < len(parts):
                cost += _cut_cost(parts[j - 1], parts[j])
            if cost < best[j]:
                best[j], back[j] = cost, i
    bounds: list[int] = []
    j = len(parts)
    while j > 0:
        bounds.append(j)
        j = back[j]
    bounds.reverse()
    pieces = [Piece(parts[start:end], WORD_PAUSE_S, tight_start=start > 0,
                    tight_end=end < len(parts))
              for start, end in zip([0, *bounds[:-1]], bounds, strict=True)]
    pieces[-1].pause_s = CLAUSE_PAUSE_S
    return pieces


def _cut_cost(before: Word, after: Word) -> float:
    """How bad a pause between these two words sounds (negative: a natural place)."""
    if not after.text:  # inside a word too long for one pass: no choice
        return 0.0
    cost = 0.0
    if after.text in _CLITICS:
        cost += _CLITIC_PENALTY
    if before.text.endswith(_MODIFIER_ENDS):
        cost += _MODIFIER_PENALTY
    if before.text in _PHRASE_OPENERS or before.text[-1:] in _NUMERALS:
        cost += _DANGLING_PENALTY
    if after.brk >= 2:
        cost -= _PHRASE_BREAK_BONUS
    if after.text in _PHRASE_OPENERS:
        cost -= _OPENER_BONUS
    return cost


def _split_long_words(words: list[Word], max_syllables: int) -> list[Word]:
    """Words longer than a pass (a long digit string read one by one) in pass-sized
    parts; the parts after the first carry no text of their own."""
    out: list[Word] = []
    for w in words:
        if len(w.pinyin) <= max_syllables:
            out.append(w)
            continue
        out.extend(Word(w.text if k == 0 else "", w.pinyin[k:k + max_syllables], han=w.han,
                        fixed=w.fixed, brk=w.brk, chars=w.chars)
                   for k in range(0, len(w.pinyin), max_syllables))
    return out
