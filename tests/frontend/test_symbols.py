"""Phone and id sequences have the shape the Baker voice was trained on."""

from __future__ import annotations

import pytest

from tts.frontend import Frontend


def test_every_phone_is_in_the_table(frontend: Frontend, voice_tables) -> None:
    symbol_to_id, _ = voice_tables
    for s in frontend.analyze("2020年，这是GPU的第一次测试。哪儿好玩儿？嗯，绿色的。"):
        assert all(p in symbol_to_id for p in s.phones)
        assert s.ids == [symbol_to_id[p] for p in s.phones]


def test_sequence_shape(frontend: Frontend) -> None:
    [s] = frontend.analyze("你好")
    assert s.phones == ["sil", "n", "i2", "#0", "h", "ao3", "sil", "eos"]


def test_prosody_marks(frontend: Frontend) -> None:
    [s] = frontend.analyze("我们去银行，好吗")
    # 我们 (#0 inside) | 去 | 银行 , 好 | 吗
    assert s.phones == [
        "sil", "^", "uo3", "#0", "m", "en5", "#1", "q", "v4", "#1", "^", "in2", "#0",
        "h", "ang2", "#3", "h", "ao3", "#1", "m", "a5", "sil", "eos",
    ]


def test_erhua_is_base_then_er5(frontend: Frontend) -> None:
    [s] = frontend.analyze("哪儿")
    assert s.pinyin == ["nar3"]
    assert s.phones == ["sil", "n", "a3", "er5", "sil", "eos"]


@pytest.mark.parametrize(
    ("text", "phones"),
    [
        ("知", ["zh", "iii1"]),
        ("四", ["s", "ii4"]),
        ("鱼", ["^", "v2"]),
        ("月", ["^", "ve4"]),
        ("绿", ["l", "v4"]),
        ("女", ["n", "v3"]),
        ("二", ["^", "er4"]),
        ("嗯", ["^", "en2"]),
    ],
)
def test_syllable_phones(frontend: Frontend, text: str, phones: list[str]) -> None:
    [s] = frontend.analyze(text)
    assert s.phones == ["sil", *phones, "sil", "eos"]


def test_latin_letters_are_spoken(frontend: Frontend) -> None:
    [s] = frontend.analyze("GPU")
    assert s.pinyin == ["ji4", "pi4", "you1"]
    assert "GPU" in s.text


def test_sentence_is_frozen(frontend: Frontend) -> None:
    [s] = frontend.analyze("你好")
    with pytest.raises(AttributeError):
        s.text = "x"  # type: ignore[misc]
