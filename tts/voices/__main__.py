"""`python -m tts.voices [--dir DIR] [--force]`: build the embedded voice if needed."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from tts.voices.build import build_voice, default_voice_dir


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tts.voices", description=__doc__)
    parser.add_argument("--dir", type=Path, default=None,
                        help="voice directory (default: $TTS_VOICE_DIR or ~/.cache/...)")
    parser.add_argument("--force", action="store_true", help="rebuild even if the voice is valid")
    parser.add_argument("--no-optimize", action="store_true",
                        help="keep the graphs exactly as converted (for comparisons)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    target = args.dir or default_voice_dir()
    print(build_voice(target, force=args.force, optimize=not args.no_optimize))


if __name__ == "__main__":
    main()
