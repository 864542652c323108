"""`python -m config`: print the settings table; `--check` the environment;
`--readme FILE` rewrite the table inside FILE (the README) in place."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from config.settings import Settings, SettingsError, markdown_table

TABLE_HEAD = "| variable | default | allowed | meaning |"


def rewrite_table(path: Path) -> None:
    """Replace the settings table (from its header row to the next blank line) in `path`."""
    text = path.read_text(encoding="utf-8")
    start = text.index(TABLE_HEAD)
    end = text.find("\n\n", start)
    path.write_text(text[:start] + markdown_table() + text[end if end >= 0 else len(text):],
                    encoding="utf-8")


def main() -> int:
    if len(sys.argv) == 3 and sys.argv[1] == "--readme":
        rewrite_table(Path(sys.argv[2]))
        return 0
    if sys.argv[1:] == ["--check"]:
        try:
            print(json.dumps(Settings.from_env().masked(), indent=1))
        except SettingsError as exc:
            print(f"configuration error: {exc}", file=sys.stderr)
            return 2
        return 0
    print(markdown_table())
    return 0


if __name__ == "__main__":
    sys.exit(main())
