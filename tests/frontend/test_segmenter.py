"""The mapped segmenter table against jieba's own: the same words, cut the same way."""

from __future__ import annotations

import shutil
import stat
from pathlib import Path

import jieba
import pytest

from tts.frontend import segmenter
from tts.testing.texts import load_corpus


@pytest.fixture(scope="module")
def jieba_own() -> jieba.Tokenizer:
    tokenizer = jieba.Tokenizer()
    tokenizer.initialize()
    return tokenizer


def test_mapped_table_cuts_like_jiebas_own(jieba_own: jieba.Tokenizer) -> None:
    mapped = segmenter.load_tokenizer()
    assert mapped.total == jieba_own.total
    texts = [*load_corpus(), "长江大桥上的南京市长", "他说的确实在理", "结婚的和尚未结婚的"]
    for text in texts:
        assert list(mapped.cut(text, HMM=False)) == list(jieba_own.cut(text, HMM=False)), text


def test_words_added_at_run_time_sit_on_top(jieba_own: jieba.Tokenizer) -> None:
    mapped = segmenter.load_tokenizer()
    assert "幺二三" not in mapped.FREQ and mapped.FREQ.get("幺二三") is None
    mapped.add_word("幺二三", freq=None)
    jieba_own.add_word("幺二三", freq=None)
    assert mapped.FREQ["幺二三"] == jieba_own.FREQ["幺二三"] > 0
    assert "幺二" in mapped.FREQ and mapped.FREQ["幺二"] == jieba_own.FREQ["幺二"]
    assert list(mapped.cut("乘坐幺二三次列车", HMM=False)) == \
        list(jieba_own.cut("乘坐幺二三次列车", HMM=False))
    with pytest.raises(KeyError):
        mapped.FREQ["不是一个词语啊"]


def test_built_files_are_readable_by_other_users(tmp_path: Path) -> None:
    segmenter.build(tmp_path / "table")
    for name in (segmenter.WORDS_FILE, segmenter.COUNTS_FILE, segmenter.TOTAL_FILE):
        mode = (tmp_path / "table" / name).stat().st_mode
        assert mode & stat.S_IROTH, name
    assert list(segmenter.load_tokenizer(tmp_path / "table").cut("今天天气很好")) == \
        ["今天天气", "很", "好"]


def test_an_unwritable_directory_builds_in_a_private_one(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    built = segmenter.ensure_built(blocker / "table")
    try:
        assert built != blocker / "table" and (built / segmenter.WORDS_FILE).is_file()
    finally:
        shutil.rmtree(built)
