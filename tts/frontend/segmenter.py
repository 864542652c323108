"""jieba's word segmenter with its frequency table in a memory-mapped trie.

jieba keeps its table (about 500,000 words and word prefixes) as a Python dict that
it unmarshals at every start: the largest part of a cold start, and tens of MiB of
objects per process. Here the same table is built once into a marisa trie of the
words and an array of their counts beside it, and every process maps both files:
opening takes microseconds, and the pages are shared by every worker (and every pod
on the node) through the page cache. Segmentation is jieba's own, unchanged.
"""

from __future__ import annotations

import importlib
import logging
import mmap
import os
import sys
import tempfile
from array import array
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import marisa_trie

from config import cache_dir


def _import_jieba() -> ModuleType:
    """jieba imports pkg_resources, if it can, only to open its own bundled files, and
    importing pkg_resources scans every installed distribution (about a third of a
    second of a cold start). Kept from it, jieba opens the same files by path."""
    if "pkg_resources" in sys.modules:
        return importlib.import_module("jieba")
    sys.modules["pkg_resources"] = None  # type: ignore[assignment]  # import fails
    try:
        return importlib.import_module("jieba")
    finally:
        del sys.modules["pkg_resources"]


jieba = _import_jieba()
jieba.setLogLevel(logging.WARNING)
_LOGGER = logging.getLogger(__name__)
WORDS_FILE = "words.marisa"
COUNTS_FILE = "counts.u32"
TOTAL_FILE = "total.txt"


def default_dir() -> Path:
    """A per-user cache directory for this jieba release (SEGMENTER_DIR unset)."""
    return cache_dir() / "segmenter" / f"jieba-{jieba.__version__}"


class WordCounts:
    """jieba's word -> count table (word prefixes count 0) read from the mapped files,
    with the words added at run time (`add_word`) held on top in a small dict."""

    def __init__(self, words: marisa_trie.Trie, counts: memoryview) -> None:
        self._words = words
        self._counts = counts
        self._added: dict[str, int] = {}

    def get(self, word: str, default: int | None = None) -> int | None:
        added = self._added.get(word)
        if added is not None:
            return added
        index = self._words.get(word)
        return default if index is None else int(self._counts[index])

    def __contains__(self, word: object) -> bool:
        return word in self._added or word in self._words

    def __getitem__(self, word: str) -> int:
        count = self.get(word)
        if count is None:
            raise KeyError(word)
        return count

    def __setitem__(self, word: str, count: int) -> None:
        self._added[word] = count


def build(directory: Path) -> None:
    """Write the trie, counts and total of jieba's default dictionary into
    `directory`, each file complete before it takes its name."""
    directory.mkdir(parents=True, exist_ok=True)
    tokenizer = jieba.Tokenizer()
    with tokenizer.get_dict_file() as source:
        table, total = tokenizer.gen_pfdict(source)
    words = marisa_trie.Trie(table)
    counts = array("I", bytes(4 * len(words)))
    for word, count in table.items():
        counts[words[word]] = count
    _write(directory / COUNTS_FILE, counts.tobytes)
    _write(directory / TOTAL_FILE, lambda: f"{total}\n".encode())
    _write(directory / WORDS_FILE, words.tobytes)  # last: its presence means complete


def _write(path: Path, data: Callable[[], bytes]) -> None:
    """Write under a temporary name, readable by all (an image built as root is
    served by another user), then rename: a reader never sees half a file."""
    with tempfile.NamedTemporaryFile(dir=path.parent, delete=False) as out:
        out.write(data())
    os.chmod(out.name, 0o644)
    os.replace(out.name, path)


def ensure_built(directory: Path) -> Path:
    """`directory` holding the files, built there if missing; where it cannot be
    written (a read-only image without them), a private temporary directory."""
    if (directory / WORDS_FILE).is_file():
        return directory
    try:
        build(directory)
        return directory
    except OSError as exc:
        fallback = Path(tempfile.mkdtemp(prefix="tts-segmenter-"))
        _LOGGER.warning("cannot write the segmenter's table to %s (%s): built in %s; "
                        "build it ahead (`make voice`, or ensure_built in this module)",
                        directory, exc, fallback)
        build(fallback)
        return fallback


def load_tokenizer(directory: Path | None = None) -> Any:
    """A jieba tokenizer, initialized, whose table is the mapped files."""
    directory = ensure_built(directory or default_dir())
    words = marisa_trie.Trie().mmap(str(directory / WORDS_FILE))
    with open(directory / COUNTS_FILE, "rb") as source:  # written in this machine's order
        counts = memoryview(mmap.mmap(source.fileno(), 0, access=mmap.ACCESS_READ)).cast("I")
    if len(counts) != len(words):
        raise ValueError(f"the segmenter's files in {directory} do not match: rebuild them")
    tokenizer = jieba.Tokenizer()
    tokenizer.FREQ = WordCounts(words, counts)
    tokenizer.total = int((directory / TOTAL_FILE).read_text())
    tokenizer.initialized = True
    return tokenizer

