"""Pinyin -> the Baker voice's phone symbols -> ids.

The voice's own tables (`symbol_to_id`, `pinyin_dict`) come from its manifest;
this module only knows the shape of the sequence the model was trained on:
``sil``, per syllable the initial and the final+tone, a prosody mark between
syllables (``#0`` in a word, ``#1`` between words, ``#2`` phrase, ``#3`` clause),
then ``sil`` ``eos``. An erhua syllable (``nar3``) is its base syllable then ``er5``.
"""

from __future__ import annotations

# pypinyin spellings the Baker table lacks -> nearest syllable it has
_FALLBACK = {"n": "en", "ng": "en", "m": "mu", "hm": "hen", "hng": "heng", "ê": "ei",
             "cei": "ce", "sei": "sai", "lue": "lve", "nue": "nve", "eh": "ei"}


class SymbolError(ValueError):
    """A syllable or symbol the voice's tables cannot express."""


class SymbolTable:
    """Wraps the voice's tables; immutable after construction."""

    def __init__(self, symbol_to_id: dict[str, int], pinyin_dict: dict[str, list[str]]) -> None:
        missing = [s for s in ("sil", "eos", "#0", "#1", "#2", "#3") if s not in symbol_to_id]
        if missing:
            raise SymbolError(f"symbol table lacks required symbols: {missing}")
        self._ids = dict(symbol_to_id)
        self._dict = {k: (v[0], v[1]) for k, v in pinyin_dict.items()}

    def canonical(self, syllable: str) -> str | None:
        """The spelling of `syllable` the voice can say (n2 -> en2), or None."""
        try:
            phones = self.syllable_phones(syllable)
        except SymbolError:
            return None
        base = syllable[:-1].replace("ü", "v")
        if base in self._dict:
            return f"{base}{syllable[-1]}"
        # rebuild from the resolved base: fallback spelling, then erhua mark
        resolved = _FALLBACK.get(base.removesuffix("r"), base.removesuffix("r")) \
            if len(phones) == 3 else _FALLBACK.get(base, base)
        return f"{resolved}{'r' if len(phones) == 3 else ''}{syllable[-1]}"

    def syllable_phones(self, syllable: str) -> list[str]:
        """Phones for one tone-numbered syllable, e.g. zhi1 -> [zh, iii1]."""
        if len(syllable) < 2 or syllable[-1] not in "12345":
            raise SymbolError(f"syllable {syllable!r} has no tone digit")
        base, tone_digit = syllable[:-1].replace("ü", "v"), syllable[-1]
        erhua = False
        if base not in self._dict and base not in _FALLBACK and base.endswith("r") \
                and base != "er":
            base, erhua = base[:-1], True
        base = _FALLBACK.get(base, base) if base not in self._dict else base
        if base not in self._dict:
            raise SymbolError(f"syllable {syllable!r} is not in the voice's pinyin table")
        initial, final = self._dict[base]
        phones = [initial, final + tone_digit]
        if erhua:
            phones.append("er5")
        for p in phones:
            if p not in self._ids:
                raise SymbolError(f"symbol {p!r} (from {syllable!r}) is not in the voice's table")
        return phones

    def ids(self, phones: list[str]) -> list[int]:
        """Map phone symbols to ids."""
        try:
            return [self._ids[p] for p in phones]
        except KeyError as exc:
            raise SymbolError(f"symbol {exc.args[0]!r} is not in the voice's table") from exc


def build_phones(table: SymbolTable, syllables: list[tuple[str, int]]) -> list[str]:
    """Full symbol sequence from (syllable, break-before) pairs.

    The break before the first syllable is ignored; between syllables it is the
    prosody level 0-3.
    """
    phones = ["sil"]
    for k, (syl, brk) in enumerate(syllables):
        if k > 0:
            phones.append(f"#{brk}")
        phones.extend(table.syllable_phones(syl))
    phones.extend(["sil", "eos"])
    return phones
