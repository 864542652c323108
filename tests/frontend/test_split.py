"""Sentence and clause splitting, length limits and pauses."""

from __future__ import annotations

import pytest

from tts.frontend import Frontend, NothingToSay
from tts.frontend.pieces import CLAUSE_PAUSE_S, SENTENCE_PAUSE_S, WORD_PAUSE_S


def test_sentences_and_pauses(frontend: Frontend) -> None:
    out = frontend.analyze("今天天气很好。我们去公园吧！好的")
    assert [s.text for s in out] == ["今天天气很好", "我们去公园吧", "好的"]
    assert [s.pause_s for s in out] == [SENTENCE_PAUSE_S, SENTENCE_PAUSE_S, 0.0]


def test_clauses_stay_in_one_sentence(frontend: Frontend) -> None:
    [s] = frontend.analyze("今天，我们去公园")
    assert s.phones.count("#3") == 1
    assert "，" not in s.text and "," not in s.text


def test_newline_ends_a_sentence(frontend: Frontend) -> None:
    assert len(frontend.analyze("第一行\n第二行")) == 2


def test_punctuation_is_not_spoken(frontend: Frontend) -> None:
    for s in frontend.analyze("“你好”，（世界）！《书》……"):
        assert not any(ch in s.text for ch in "“”，（）！《》…")


@pytest.mark.parametrize("limit", [5, 12, 30])
def test_long_text_is_split_under_limit(voice_tables, frontend: Frontend, limit: int) -> None:
    symbol_to_id, pinyin_dict = voice_tables
    fe = Frontend(symbol_to_id, pinyin_dict, max_syllables=limit)
    text = "我们今天一起去北京的公园散步，看到了很多漂亮的花和高大的树木，大家都非常开心" * 2
    out = fe.analyze(text)
    assert all(len(s.pinyin) <= limit for s in out)
    # splitting loses no syllables
    whole = frontend.analyze(text)
    assert [p for s in out for p in s.pinyin] == [p for s in whole for p in s.pinyin]
    assert out[-1].pause_s == 0.0
    assert {s.pause_s for s in out[:-1]} <= {SENTENCE_PAUSE_S, CLAUSE_PAUSE_S, WORD_PAUSE_S}


def test_pauses_are_a_readers(frontend: Frontend) -> None:
    # a full stop is heard longer than a comma, a cut inside a clause shortest
    assert SENTENCE_PAUSE_S > CLAUSE_PAUSE_S > WORD_PAUSE_S >= 0


def test_long_clause_without_punctuation(voice_tables) -> None:
    symbol_to_id, pinyin_dict = voice_tables
    fe = Frontend(symbol_to_id, pinyin_dict, max_syllables=10)
    out = fe.analyze("我们今天一起去北京的公园散步看到了很多漂亮的花和高大的树木")
    assert len(out) >= 3
    assert all(len(s.pinyin) <= 10 for s in out)
    assert all(s.phones[0] == "sil" and s.phones[-2:] == ["sil", "eos"] for s in out)
    assert [s.pause_s for s in out[:-1]] == [WORD_PAUSE_S] * (len(out) - 1)


# Over-long clauses (no punctuation) and where a reader would take a breath in them.
@pytest.mark.parametrize(("text", "limit", "expected"), [
    # before the conjunction, not after 的 or inside 散步
    ("我们今天上午一起去公园散步因为天气特别好", 14,
     ["我们今天上午一起去公园散步", "因为天气特别好"]),
    # before the preposition phrase, not between 学校 and 对面
    ("我昨天下午和几个老同学在学校对面那家新开的小饭馆吃了一顿饭", 18,
     ["我昨天下午和几个老同学", "在学校对面那家新开的小饭馆吃了一顿饭"]),
])
def test_long_clause_is_cut_where_a_reader_pauses(
        voice_tables, text: str, limit: int, expected: list[str]) -> None:
    fe = Frontend(*voice_tables, max_syllables=limit)
    assert [s.text for s in fe.analyze(text)] == expected


def test_long_clause_is_never_cut_inside_a_word(voice_tables) -> None:
    fe = Frontend(*voice_tables, max_syllables=7)
    text = "中华人民共和国国务院新闻办公室今天下午举行新闻发布会介绍有关情况"
    pieces = fe.analyze(text)
    assert "".join(s.text for s in pieces) == text
    assert not any(s.text[0] in "的了着过们吗呢吧" for s in pieces)
    whole = fe.analyze(text.replace("", " ").strip())  # the same syllables, one word each
    assert len(pieces) <= len(whole)


def test_digit_run_longer_than_a_pass_is_still_said(voice_tables) -> None:
    fe = Frontend(*voice_tables, max_syllables=8)
    pieces = fe.analyze("编号" + "1234567890" * 3)
    assert all(len(s.pinyin) <= 8 for s in pieces)
    assert sum(len(s.pinyin) for s in pieces) == 32


def test_split_prefers_clause_marks(voice_tables) -> None:
    symbol_to_id, pinyin_dict = voice_tables
    fe = Frontend(symbol_to_id, pinyin_dict, max_syllables=8)
    out = fe.analyze("今天天气很好，我们去公园散步")
    assert [s.text for s in out] == ["今天天气很好", "我们去公园散步"]
    assert out[0].pause_s == CLAUSE_PAUSE_S


def test_first_clause_split(frontend: Frontend) -> None:
    text = "今天天气很好，我们去公园散步，然后回家。明天见"
    whole = frontend.analyze(text)
    fast = frontend.first_clause_split(text)
    assert len(whole) == 2
    assert [s.text for s in fast] == ["今天天气很好", "我们去公园散步 然后回家", "明天见"]
    assert fast[0].pause_s == CLAUSE_PAUSE_S
    assert [p for s in fast for p in s.pinyin] == [p for s in whole for p in s.pinyin]


def test_first_clause_split_single_clause(frontend: Frontend) -> None:
    assert [s.text for s in frontend.first_clause_split("你好")] == ["你好"]


@pytest.mark.parametrize("text", ["", "   ", "!!!", "🙂🙂", "\x00\x01", "，。？", "\n\n", "🇨🇳"])
def test_nothing_to_say(frontend: Frontend, text: str) -> None:
    with pytest.raises(NothingToSay, match="nothing speakable"):
        frontend.analyze(text)
    with pytest.raises(ValueError):
        frontend.first_clause_split(text)


def test_only_cuts_inside_a_clause_are_said_tight(voice_tables) -> None:
    fe = Frontend(*voice_tables, max_syllables=14)
    out = fe.analyze("我们今天上午一起去公园散步因为天气特别好，大家都很开心。明天见")
    assert [(s.tight_start, s.tight_end) for s in out] == [
        (False, True), (True, False), (False, False), (False, False)]
    assert [s.pause_s for s in out] == [WORD_PAUSE_S, CLAUSE_PAUSE_S, SENTENCE_PAUSE_S, 0.0]
    # an SSML break is the caller's pause, even a zero one
    ssml = fe.analyze('<speak>你好<break time="0ms"/>我们走吧</speak>')
    assert not any(s.tight_start or s.tight_end for s in ssml)
