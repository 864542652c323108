"""Latin letters and words -> Mandarin-style syllables.

Chinese listeners read acronyms letter by letter with localized letter names
("GPU" -> ji4 pi4 you1). A few loanwords everybody says as one word get their own
entry; anything else is spelled. Every syllable used here exists in the Baker
voice's pinyin table.
"""

from __future__ import annotations

# One reading per letter, as commonly heard in Mandarin speech.
LETTER_PINYIN: dict[str, tuple[str, ...]] = {
    "a": ("ei1",),
    "b": ("bi4",),
    "c": ("xi1",),
    "d": ("di4",),
    "e": ("yi4",),
    "f": ("ai2", "fu5"),
    "g": ("ji4",),
    "h": ("ei1", "qi1"),
    "i": ("ai4",),
    "j": ("zhei4",),
    "k": ("kei4",),
    "l": ("ai2", "le5"),
    "m": ("ai2", "mu5"),
    "n": ("en1",),
    "o": ("ou1",),
    "p": ("pi4",),
    "q": ("qiu1",),
    "r": ("a4",),
    "s": ("ai2", "si5"),
    "t": ("ti4",),
    "u": ("you1",),
    "v": ("wei1",),
    "w": ("da2", "bu5", "liu5"),
    "x": ("ai4", "ke4", "si1"),
    "y": ("wai4",),
    "z": ("zei4",),
}

# Words read as words, keyed by lower case with hyphens and apostrophes removed.
KNOWN_WORDS: dict[str, tuple[str, ...]] = {
    "iphone": ("ai4", "feng4"),
    "ipad": ("ai4", "pai4"),
    "wifi": ("wai4", "fei1"),
    "ok": ("ou1", "kei4"),
    "okay": ("ou1", "kei4"),
    "app": ("ei1", "pi4", "pi4"),
    "email": ("yi1", "mei4", "er5"),
    "hello": ("ha1", "lou2"),
    "bye": ("bai1",),
    "to": ("tu2",),
    "pro": ("pu2", "rou5"),
    "max": ("mai4", "ke4", "si1"),
    "mini": ("mi1", "ni5"),
    "plus": ("pu2", "la1", "si1"),
    "google": ("gu3", "ge1"),
    "windows": ("wen1", "dou4", "si1"),
    "android": ("an1", "zhuo2"),
    "java": ("zha1", "wa3"),
    "python": ("pai4", "sen1"),
    "linux": ("li2", "nu2", "ke4", "si1"),
    "word": ("wo4", "de5"),
    "excel": ("yi1", "ke4", "se4", "er5"),
    "office": ("ao4", "fei1", "si1"),
    "cpu": ("xi1", "pi4", "you1"),
}


def is_latin_word(token: str) -> bool:
    """True if the token is ASCII letters, possibly joined by - or '."""
    stripped = token.replace("-", "").replace("'", "")
    return bool(stripped) and stripped.isascii() and stripped.isalpha()


def latin_pinyin(token: str) -> list[str]:
    """Syllables for one Latin token: a known word, or the letters spelled out."""
    key = token.lower().replace("-", "").replace("'", "")
    if key in KNOWN_WORDS:
        return list(KNOWN_WORDS[key])
    out: list[str] = []
    for ch in key:
        out.extend(LETTER_PINYIN.get(ch, ()))
    return out
