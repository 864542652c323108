"""Hostile input: normalization and analysis never crash, output stays valid."""

from __future__ import annotations

import random

import pytest

from tts.frontend import Frontend, NothingToSay

HOSTILE = [
    "\ud800\udfff孤立代理",
    "a\x00b\x1f\x7f",
    "\u200b\u200d\ufeff零宽",
    "🙂👍🏽👨‍👩‍👧" * 50,
    "𠀋𡈽𪚥",
    "Привет мир こんにちは 안녕하세요 مرحبا",
    "ℌ𝔢𝔩𝔩𝔬 ① ⅲ ㊿",
    "1" * 5000,
    "3.14.15.92.65",
    "1,2,3,,4,,,5",
    "--5--%%",
    "¥$€£",
    "%" * 100,
    "\n" * 1000 + "好",
    "一" * 3000,
    "<speak>你好</speak>",
    "2024-13-45 25:61",
    "1/0",
    "9" * 40 + ".5%",
    "é à ñ ö",
    "\t\r\x0b\x0c",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_strings(frontend: Frontend, text: str, voice_tables) -> None:
    symbol_to_id, _ = voice_tables
    frontend.normalize(text)
    try:
        out = frontend.analyze(text)
    except NothingToSay:
        return
    for s in out:
        assert s.phones[0] == "sil" and s.phones[-2:] == ["sil", "eos"]
        assert all(p in symbol_to_id for p in s.phones)
        assert len(s.pinyin) <= 60


def _random_strings(seed: int, count: int) -> list[str]:
    rng = random.Random(seed)
    pools = [
        (0x20, 0x7E),  # ASCII
        (0x4E00, 0x9FFF),  # CJK
        (0x3000, 0x303F),  # CJK punctuation
        (0xFF00, 0xFFEF),  # full width
        (0x0000, 0x001F),  # control
        (0x1F300, 0x1FAFF),  # emoji
        (0x0000, 0x10FFFF),  # anything, surrogates included
    ]
    out = []
    for _ in range(count):
        chars = []
        for _ in range(rng.randint(0, 30)):
            lo, hi = rng.choice(pools)
            chars.append(chr(rng.randint(lo, hi)))
        if rng.random() < 0.3:
            chars.insert(rng.randint(0, len(chars)), str(rng.randint(-10**6, 10**9)))
        out.append("".join(chars))
    return out


def test_random_unicode_never_crashes(frontend: Frontend, voice_tables) -> None:
    symbol_to_id, _ = voice_tables
    analyzed = 0
    for text in _random_strings(seed=20240305, count=3000):
        try:
            out = frontend.analyze(text)
        except NothingToSay:
            continue
        analyzed += 1
        for s in out:
            assert all(p in symbol_to_id for p in s.phones), text
            assert 0 < len(s.pinyin) <= 60
    assert analyzed > 1000


def test_concurrent_use_matches_serial(frontend: Frontend) -> None:
    from concurrent.futures import ThreadPoolExecutor

    texts = ["今天是2024年3月5日，天气很好。", "GPU的价格涨了12.5%！", "数一数", "银行行长"]
    texts *= 25
    serial = [frontend.analyze(t) for t in texts]
    with ThreadPoolExecutor(max_workers=4) as pool:
        parallel = list(pool.map(frontend.analyze, texts))
    assert parallel == serial
