"""`python -m config`: print the settings table for the README, or check the environment."""

from __future__ import annotations

import json
import sys

from config.settings import Settings, SettingsError, markdown_table


def main() -> int:
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
