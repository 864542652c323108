"""wetext imported through tts.frontend.grammars reads only the grammars applied."""

from __future__ import annotations

import json
import subprocess
import sys

# Run in a fresh interpreter: wetext must not have been imported before.
_SCRIPT = """
import json
from tts.frontend.normalize import TextNormalizer
from tts.frontend.grammars import GrammarOnFirstUse

said = TextNormalizer().normalize("2024年3月5日，气温-3.5℃")
import wetext.constants as constants  # after the front end imported wetext

def read(tree, path=()):
    for name, value in tree.items():
        if isinstance(value, dict):
            yield from read(value, (*path, name))
        else:
            assert isinstance(value, GrammarOnFirstUse), (path, name, value)
            yield "/".join((*path, name)), value._grammar is not None

print(json.dumps({"said": said, "read": dict(read(constants.FSTS))}, ensure_ascii=False))
"""


def test_only_chinese_tn_grammars_are_read() -> None:
    out = subprocess.run([sys.executable, "-c", _SCRIPT], capture_output=True, text=True,
                         check=True, timeout=120)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["said"] == "二零二四年三月五日,气温负三点五摄氏度"
    read = {name for name, was_read in result["read"].items() if was_read}
    assert read == {"zh/tn/tagger", "zh/tn/verbalizer"}
    assert len(result["read"]) >= 15  # every grammar wetext ships went through the stand-in
