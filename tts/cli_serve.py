"""`mandarin-tts serve`: the HTTP service under gunicorn, as `gunicorn -c gunicorn.conf.py`
runs it.

`ConfiguredApplication` is gunicorn's own `Application` reading the project's
gunicorn.conf.py the way gunicorn's command line does (gevent workers, the hooks that
preload the front end, wait for warm workers and drain), with its options taken from
this command instead of gunicorn's argv. --port and --workers set PORT and WORKERS in
the environment before the config file is read, so the config and the settings each
worker reads agree.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gunicorn import util
from gunicorn.app.base import Application

from config import Settings, SettingsError


class ConfiguredApplication(Application):
    """gunicorn's master for one config file plus a few overrides; `run` returns only
    when the master exits."""

    def __init__(self, config_file: Path, overrides: Mapping[str, Any]) -> None:
        self.config_file = config_file
        self.overrides = dict(overrides)
        super().__init__(prog="mandarin-tts serve")

    def load_config(self) -> None:
        """Also what SIGHUP re-runs: the file is read again, the overrides kept."""
        self.load_config_from_file(str(self.config_file))
        for name, value in self.overrides.items():
            self.cfg.set(name, value)
        self.chdir()

    def load(self) -> Any:
        return util.import_app(self.cfg.wsgi_app)


def serve(args: argparse.Namespace) -> int:
    """Serve until gunicorn stops; 1 when the config file or a setting is wrong."""
    if not args.config.is_file():
        print(f"error: no gunicorn config at {args.config}; serve runs from a checkout of "
              "the repository (or pass --config)", file=sys.stderr)
        return 1
    if args.port is not None:
        os.environ["PORT"] = str(args.port)
    if args.workers is not None:
        os.environ["WORKERS"] = str(args.workers)
    try:
        settings = Settings.from_env()  # the config file reads the same: fail here, plainly
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    overrides = {"bind": [f"{args.host}:{settings.port}"]} if args.host else {}
    ConfiguredApplication(args.config, overrides).run()
    return 0
