"""Texts for requests: the benchmark corpus, and texts new on every call (guaranteed
cache misses)."""

from __future__ import annotations

from pathlib import Path

# 100 lines of everyday Mandarin, 72 characters each: data of bench/, read by path.
CORPUS = Path(__file__).resolve().parents[2] / "bench" / "corpus.txt"

# Single sentences (commas only) of 30-60 characters: one inference job per request.
SENTENCES = (
    "今天天气很好，我们一起去公园散步，顺便看看湖边新开的花",
    "北京是中华人民共和国的首都，也是全国的政治和文化中心",
    "请各位旅客注意，开往上海的列车即将进站，请在安全线以内排队上车",
    "这家小店的牛肉面味道不错，价格也很实惠，每天中午都有很多人排队",
    "明天上午九点在三楼会议室开会，请大家提前准备好本季度的工作总结",
    "他从小就喜欢读书，长大以后成了一名中学语文老师，一直教了三十年",
)
DIGITS = "零一二三四五六七八九"


def chinese_number(n: int) -> str:
    """Digits read one by one (一二零), so every counter value is speakable text."""
    return "".join(DIGITS[int(d)] for d in str(n))


def distinct_text(n: int, *, tag: str = "") -> str:
    """A different single-sentence text for every `n` (and tag): a guaranteed cache miss."""
    base = SENTENCES[n % len(SENTENCES)]
    return f"{base}，这是{tag}第{chinese_number(n)}条测试语句。"


def load_corpus(path: Path = CORPUS) -> list[str]:
    """The corpus's non-blank lines, stripped."""
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip()]
