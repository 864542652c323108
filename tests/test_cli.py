"""The command line speaks real audio files, and serves the API under gunicorn."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import requests
import soundfile as sf
import srt

from tts.testing.load import http_ok, wait_until
from tts.testing.ports import HOST, free_port
from tts.testing.procfs import children_of

REPO = Path(__file__).resolve().parents[1]


def run_cli(*args: str, voice_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TTS_VOICE_DIR": str(voice_dir)}
    return subprocess.run([sys.executable, "-m", "tts", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120)


def test_say_writes_the_sentence_as_wav(voice_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.wav"
    done = run_cli("say", "银行行长说：2026年11月23日的会议改到10:30。", "-o", str(out),
                   voice_dir=voice_dir)
    assert done.returncode == 0, done.stderr
    info = sf.info(str(out))
    assert info.samplerate == 24000 and info.subtype == "PCM_16"
    # 27 syllables at 3.5-6 per second, plus pauses.
    assert 4.0 < info.duration < 9.0


def test_say_reads_a_long_file_and_honours_options(voice_dir: Path, tmp_path: Path) -> None:
    text = tmp_path / "input.txt"
    text.write_text("第一段文字。今天天气很好。\n第二段：我们去公园散步吧！" * 3, encoding="utf-8")
    out = tmp_path / "out.flac"
    done = run_cli("say", "--file", str(text), "-o", str(out), "--sample-rate", "16000",
                   "--speed", "1.25", "--emotion", "happy", voice_dir=voice_dir)
    assert done.returncode == 0, done.stderr
    info = sf.info(str(out))
    assert info.format == "FLAC" and info.samplerate == 16000 and info.duration > 5


def test_say_explains_bad_input(voice_dir: Path, tmp_path: Path) -> None:
    done = run_cli("say", "🙂🙂", "-o", str(tmp_path / "x.wav"), voice_dir=voice_dir)
    assert done.returncode == 1 and "nothing speakable" in done.stderr
    done = run_cli("say", "你好", "-o", str(tmp_path / "x.wav"), "--speed", "9",
                   voice_dir=voice_dir)
    assert done.returncode == 2 and "--speed" in done.stderr


def test_say_writes_subtitles_timed_to_the_audio(voice_dir: Path, tmp_path: Path) -> None:
    out, cues_file = tmp_path / "out.wav", tmp_path / "out.srt"
    text = "今天天气很好，我们一起去公园散步吧。然后去图书馆看书！"
    done = run_cli("say", text, "-o", str(out), "--subtitles", str(cues_file),
                   "--max-chars", "8", voice_dir=voice_dir)
    assert done.returncode == 0, done.stderr
    cues = list(srt.parse(cues_file.read_text(encoding="utf-8")))
    # cues end at punctuation, or at a word start before the eighth character
    assert [c.content for c in cues] == ["今天天气很好", "我们一起去公园", "散步吧",
                                         "然后去图书馆看书"]
    assert abs(cues[-1].end.total_seconds() - sf.info(str(out)).duration) < 0.02


def test_serve_answers_over_http_until_terminated(voice_dir: Path, tmp_path: Path) -> None:
    """`serve` runs gunicorn with gunicorn.conf.py; --port and --workers win over the
    PORT and WORKERS settings (set here to values that would not answer)."""
    port = free_port()
    url = f"http://{HOST}:{port}"
    env = {**os.environ, "TTS_VOICE_DIR": str(voice_dir), "PORT": "1", "WORKERS": "3",
           # no shared Socket.IO port, and gunicorn's control socket in a private dir
           "SOCKETIO_PORT": "0", "XDG_RUNTIME_DIR": str(tmp_path)}
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "tts", "serve", "--host", HOST, "--port", str(port),
             "--workers", "1"],
            cwd=REPO, env=env, stdout=out, stderr=out, start_new_session=True)
    try:
        ready = wait_until(lambda: server.poll() is not None or http_ok(url + "/readyz"), 120)
        assert ready and server.poll() is None, log.read_text(encoding="utf-8")
        assert len(children_of(server.pid)) == 1
        response = requests.post(url + "/api/tts", json={"text": "你好，世界。"}, timeout=60)
        assert response.status_code == 200 and response.content[:4] == b"RIFF"
        assert float(response.headers["X-Audio-Duration"]) > 0.5
        server.terminate()
        assert server.wait(60) == 0, log.read_text(encoding="utf-8")
    finally:
        if server.poll() is None:  # a failed assertion above: take the workers too
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(10)
