"""Command line (`mandarin-tts`, or `python -m tts`).

    say "文本" -o out.wav     text to an audio file with no server (`--file input.txt`
                              for long texts, `--subtitles out.srt` for timed cues)
    serve [--port N] [--workers N]
                              the HTTP service under gunicorn with gunicorn.conf.py
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tts.audio import FORMATS, SAMPLE_RATES
from tts.emotions import EMOTIONS

# Beside app.py at the top of a checkout; a wheel from `pip install .` does not carry it.
GUNICORN_CONF = Path(__file__).resolve().parents[1] / "gunicorn.conf.py"


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tts", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    say = commands.add_parser("say", help="synthesize text to an audio file")
    source = say.add_mutually_exclusive_group(required=True)
    source.add_argument("text", nargs="?", help="text to say")
    source.add_argument("--file", type=Path, help="read the text from this UTF-8 file")
    say.add_argument("-o", "--output", type=Path, required=True, help="audio file to write")
    say.add_argument("--emotion", choices=EMOTIONS, default="neutral")
    say.add_argument("--speed", type=float, default=1.0, help="0.5 to 2.0")
    say.add_argument("--format", choices=list(FORMATS), default=None,
                     help="default: from the output file's extension, else wav")
    say.add_argument("--sample-rate", type=int, choices=SAMPLE_RATES, default=None)
    say.add_argument("--subtitles", type=Path, default=None,
                     help="also write subtitles timed to the audio (.srt or .vtt)")
    say.add_argument("--max-chars", type=int, default=20, help="characters per subtitle cue")
    serve = commands.add_parser(
        "serve", help="serve the HTTP API under gunicorn (from a checkout)",
        description="Serve the HTTP API as `gunicorn -c gunicorn.conf.py` does: gevent "
                    "workers, front end preloaded in the master, drain on SIGTERM. Every "
                    "other setting comes from the environment (python -m config lists "
                    "them). Needs gunicorn.conf.py, which lives at the top of a checkout "
                    "of the repository beside app.py: run from a checkout or an editable "
                    "install (pip install -e .), or name the file with --config; a wheel "
                    "installed with `pip install .` does not carry it.")
    serve.add_argument("--port", type=int, default=None,
                       help="TCP port to listen on (default: the PORT setting, 7860)")
    serve.add_argument("--workers", type=int, default=None,
                       help="gunicorn worker processes (default: the WORKERS setting, 2)")
    serve.add_argument("--host", default=None,
                       help="address to bind (default: gunicorn.conf.py's, 0.0.0.0)")
    serve.add_argument("--config", type=Path, default=GUNICORN_CONF,
                       help="gunicorn config file (default: %(default)s)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    # Each command's module is imported only when it runs: `serve` must import nothing
    # of the service before gunicorn has read gunicorn.conf.py, which sets up the
    # metrics directory and keeps Redis and ONNX Runtime out of the master.
    if args.command == "serve":
        from tts.cli_serve import serve

        return serve(args)
    from tts.cli_say import say_command

    return say_command(args)


if __name__ == "__main__":
    sys.exit(main())
