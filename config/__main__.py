"""`python -m config`: print the settings table; `--check` the environment;
`--readme FILE` rewrite the table inside FILE (docs/configuration.md) in place."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from config.settings import Settings, SettingsError, help_text, markdown_table

TABLE_HEAD = "| variable | default | allowed | meaning |"


def rewrite_table(path: Path) -> None:
    """Replace the settings table (from its header row to the next blank line) in `path`."""
    text = path.read_text(encoding="utf-8")
    start = text.index(TABLE_HEAD)
    end = text.find("\n\n", start)
    path.write_text(text[:start] + markdown_table() + text[end if end >= 0 else len(text):],
                    encoding="utf-8")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m config", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Print the settings table (Markdown) when run without options.",
        epilog="settings (environment variables; empty means unset):\n" + help_text())
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--check", action="store_true",
                        help="read the environment and print the resolved settings as "
                             "JSON, secrets masked; exit 2 on a bad value")
    action.add_argument("--readme", type=Path, metavar="FILE",
                        help="rewrite the settings table inside FILE in place")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.readme is not None:
        rewrite_table(args.readme)
        return 0
    if args.check:
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
