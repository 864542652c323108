"""The harness tests/ and bench/ share, so that neither imports the other.

Like `numpy.testing`: shipped with the package, imported only by tests and
benchmarks, free of pytest (the fixtures wrapping these live in tests/). Some
modules need the `test` or `bench` extra (requests, redis-server on PATH).

- `ports`: a free loopback port.
- `procfs`: process facts from /proc (children, CPU seconds, RSS, load average).
- `texts`: the benchmark corpus, and texts new on every call (cache misses).
- `corpus_texts`: corpus lines as a load's texts, all new or mixed with repeats.
- `stats`: percentiles of what a load measured.
- `gunicorn_server`: the real service under gunicorn, started and stopped.
- `redis_servers`: throwaway redis-server processes, Sentinel sets and clusters.
- `load`: HTTP load clients (closed loops, background load, /healthz probes).
- `faults`: load and fault scenarios (overload, Redis restart, worker kills, soak).
- `prosody`: listening-free measures of speech (YIN F0, RMS, speaking rate).
- `emotions`: an emotion preset said over corpus lines and measured.
"""
