"""Reading real text right: reading_cases.tsv (polyphones, addresses, codes, 两) must
all pass, and addresses stay one sentence."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tts.frontend import Frontend
from tts.frontend.normalize import TextNormalizer
from tts.frontend.split import split_sentences

CASES_FILE = Path(__file__).with_name("reading_cases.tsv")

# at least this many cases per category, so that a category cannot silently shrink
MIN_PER_CATEGORY = {
    "de": 35, "zhe": 25, "wei": 30, "polyphone": 80, "address": 35, "code": 45, "liang": 50,
    "news": 10, "service": 15, "navigation": 15, "shopping": 10, "daily": 10, "years": 6,
}


def _rows() -> list[tuple[int, str, str, str]]:
    rows = []
    for lineno, line in enumerate(CASES_FILE.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        category, text, expected = line.split("\t")
        rows.append((lineno, category, text, expected.strip()))
    return rows


ROWS = _rows()
CASES: list[Any] = [pytest.param(text, expected, id=f"L{n}-{cat}-{text}")
                    for n, cat, text, expected in ROWS]


def test_case_file_is_large_enough() -> None:
    assert len(ROWS) >= 400
    counts = Counter(cat for _, cat, _, _ in ROWS)
    assert set(counts) == set(MIN_PER_CATEGORY)
    for category, least in MIN_PER_CATEGORY.items():
        assert counts[category] >= least, category


def test_texts_are_unique() -> None:
    texts = [text for _, _, text, _ in ROWS]
    assert len(texts) == len(set(texts))


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_reading(frontend: Frontend, text: str, expected: str) -> None:
    got = " ".join(p for s in frontend.analyze(text) for p in s.pinyin)
    assert got == expected


@pytest.mark.parametrize("text", [
    "请访问www.example.com了解详情",
    "我的邮箱是a.b@example.com",
    "请访问https://www.example.com/a/b?x=1",
    "请查收附件report_v2.pdf",
    "已升级到v3.10.2版本",
    "邮箱zhang.san@mail.example.com.cn",
    "请打开年度报告.pdf",
])
def test_address_is_one_clause(frontend: Frontend, text: str) -> None:
    """No sentence or clause cut inside an address: its dots are read, not split at."""
    assert len(split_sentences(frontend.normalize(text))) == 1
    assert len(split_sentences(frontend.normalize(text))[0]) == 1


@pytest.mark.parametrize(("text", "sentences"), [
    ("访问www.example.com。然后登录", 2),
    ("我到了.你呢", 2),
    ("详见www.example.com.", 1),
    ("圆周率约3.14", 1),
])
def test_sentence_dots_still_end_sentences(frontend: Frontend, text: str,
                                           sentences: int) -> None:
    assert len(split_sentences(frontend.normalize(text))) == sentences


@pytest.fixture(scope="module")
def never_yao() -> TextNormalizer:
    return TextNormalizer(yao_for_one="never")


@pytest.mark.parametrize(("text", "normalized"), [
    ("电话13812345678", "电话一三八 一二三四 五六七八"),
    ("报警请拨打110", "报警请拨打一一零"),
    ("房间1101", "房间一一零一"),
    ("航班CA1501", "航班CA一五零一"),
    ("验证码是151106", "验证码是一五一一零六"),
    ("邮箱12345@qq.com", "邮箱一二三四五艾特qq点com"),
])
def test_yao_never_keeps_yi(never_yao: TextNormalizer, text: str, normalized: str) -> None:
    assert never_yao.normalize(text) == normalized


def test_yao_setting_is_checked() -> None:
    with pytest.raises(ValueError, match="yao_for_one"):
        TextNormalizer(yao_for_one="always")
