"""Operator lexicon: file loading, validation and precedence."""

from __future__ import annotations

from pathlib import Path

import pytest

from tts.frontend import Frontend, LexiconError, load_lexicon


def test_load_lexicon(tmp_path: Path) -> None:
    path = tmp_path / "lex.txt"
    path.write_text(
        "# operator fixes\n"
        "\n"
        "重庆\tchong2 qing4  # city\n"
        "B站\tbi4 zhan4\n"
        "吕布\tlü3 bu4\n",
        encoding="utf-8",
    )
    assert load_lexicon(path) == {
        "重庆": ["chong2", "qing4"],
        "B站": ["bi4", "zhan4"],
        "吕布": ["lv3", "bu4"],
    }


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("好\thao3\n银行 yin2 hang2\n", r"lex.txt:2: expected 'word<TAB>pinyin"),
        ("银行\tyin hang2\n", r"lex.txt:1: 'yin' in '银行' is not pinyin"),
        ("银行\tyin2\n", r"lex.txt:1: '银行' has 2 characters but 1 syllables"),
        ("银行\t\n", r"lex.txt:1: .*"),
        ("银行\tyin2 hang6\n", r"lex.txt:1: 'hang6'"),
    ],
)
def test_bad_lexicon_names_the_line(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "lex.txt"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(LexiconError, match=message):
        load_lexicon(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        load_lexicon(tmp_path / "nope.txt")


@pytest.fixture(scope="module")
def custom(voice_tables) -> Frontend:
    symbol_to_id, pinyin_dict = voice_tables
    return Frontend(
        symbol_to_id,
        pinyin_dict,
        lexicon={"银行": ["yin2", "xing2"], "长乐": ["chang2", "le4"], "B站": ["bi4", "zhan4"],
                 "一": ["yi1"]},
    )


def test_lexicon_beats_dictionary(custom: Frontend, frontend: Frontend) -> None:
    assert frontend.analyze("银行")[0].pinyin == ["yin2", "hang2"]
    assert custom.analyze("银行")[0].pinyin == ["yin2", "xing2"]


def test_lexicon_beats_rules_and_sandhi(custom: Frontend) -> None:
    assert custom.analyze("他在长乐")[0].pinyin == ["ta1", "zai4", "chang2", "le4"]
    # the entry for 一 is used as written, no 一 sandhi
    assert custom.analyze("一个")[0].pinyin == ["yi1", "ge4"]


def test_lexicon_with_latin(custom: Frontend) -> None:
    assert custom.analyze("我上B站")[0].pinyin == ["wo3", "shang4", "bi4", "zhan4"]


def test_invalid_lexicon_dict_is_rejected(voice_tables) -> None:
    symbol_to_id, pinyin_dict = voice_tables
    with pytest.raises(LexiconError):
        Frontend(symbol_to_id, pinyin_dict, lexicon={"银行": ["yin2"]})
