# `make run` and `make test` each set up everything they need on a fresh machine:
# the virtualenv, the Python dependencies, the embedded voice (built outside the
# repo, under ~/.cache by default) and, for tests, redis-server.

VENV   ?= .venv
PY     := $(VENV)/bin/python
PYTHON ?= python3

.PHONY: run test setup voice lint typecheck redis-server bench bench-setup clean-voice

$(VENV)/.runtime: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

$(VENV)/.dev: $(VENV)/.runtime requirements-dev.txt requirements-test.txt requirements-bench.txt
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

voice: $(VENV)/.runtime
	$(PY) -m tts.voices
	$(PY) -c "from tts.frontend.segmenter import default_dir, ensure_built; ensure_built(default_dir())"

setup: $(VENV)/.runtime voice

run: setup
	$(VENV)/bin/gunicorn -c gunicorn.conf.py

redis-server:
	@command -v redis-server >/dev/null || { \
	  echo "installing redis-server"; \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q redis-server; }

lint: $(VENV)/.dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy .

test: $(VENV)/.dev voice redis-server lint
	$(PY) -m pytest -q

bench-setup:
	@command -v wrk >/dev/null || { \
	  echo "installing wrk (load generator for bench/)"; \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q wrk; }
	@test -f /tmp/voice-raw/voice.json || $(PY) -m tts.voices --no-optimize --dir /tmp/voice-raw

bench: $(VENV)/.dev voice redis-server bench-setup
	$(PY) -m bench

clean-voice:
	$(PY) -c "from tts.voices.build import default_voice_dir; import shutil; shutil.rmtree(default_voice_dir(), ignore_errors=True)"
