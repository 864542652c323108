"""Signals to the server's processes under load: a worker SIGKILLed (only its own
requests may fail) and the master SIGTERMed (every request that arrived is answered)."""

from __future__ import annotations

import math
import threading
import time

from bench.faults.outcome import Outcome, statuses
from bench.load import Texts
from tts.testing.gunicorn_server import GunicornServer
from tts.testing.load import Result, closed_loop, synthesize, wait_until


def kill_worker(server: GunicornServer, seconds: float, clients: int = 4) -> Outcome:
    """SIGKILL one worker at 1/3 of an uncached load; it is replaced, the rest succeed."""
    out = Outcome("worker SIGKILL")
    texts = Texts("杀")
    before = server.worker_pids()
    ready_before = server.ready_lines()
    killed: list[tuple[int, float]] = []
    start = time.monotonic()

    def chaos() -> None:
        time.sleep(seconds / 3)
        killed.append((server.kill_worker(), time.monotonic() - start))

    thread = threading.Thread(target=chaos, daemon=True)
    thread.start()
    results, elapsed = closed_loop(lambda: synthesize(server.url, texts.next()), clients,
                                   seconds)
    thread.join(10)
    replaced = wait_until(lambda: len(server.worker_pids()) == server.workers
                          and not set(server.worker_pids()) & {killed[0][0]}, 30)
    recovered = 0.0
    try:
        recovered = server.wait_ready(ready_before + 1, timeout_s=60)
    except Exception as exc:  # reported as a violation
        out.violations.append(f"not ready again: {exc}"[:300])
    answers_after = [synthesize(server.url, texts.next()).status for _ in range(4)]
    # The replacement worker accepts connections while its engine warms up and answers
    # those with a fast 503 + Retry-After (readiness is false): a refusal, not a failure.
    warming = [r for r in results if r.status == 503 and (r.retry_after or "").isdigit()]
    failed = [r for r in results if r.status != 200 and r not in warming]
    http_errors = [r for r in failed if r.status != 0]
    kill_at = start + killed[0][1] if killed else math.inf
    failed_late = [r for r in failed if r.started > kill_at + 1.0]
    out.figures = {"seconds": round(elapsed, 1), "requests": len(results),
                   "statuses": statuses(results), "killed_pid": killed[0][0] if killed else None,
                   "killed_at_s": round(killed[0][1], 2) if killed else None,
                   "workers_before": before, "workers_after": server.worker_pids(),
                   "ready_again_s": round(recovered, 2), "answers_after": answers_after,
                   "refused_503_while_replacement_warmed": len(warming)}
    out.expect(bool(killed), "no worker was killed")
    out.expect(replaced, "gunicorn did not replace the killed worker")
    out.expect(not http_errors, f"HTTP error answers: {statuses(http_errors)}")
    out.expect(len(failed) <= clients,
               f"{len(failed)} requests failed; at most the {clients} in flight could")
    out.expect(not failed_late, f"{len(failed_late)} requests started after the kill failed")
    out.expect(answers_after == [200] * 4, f"after recovery: {answers_after}")
    return out


def sigterm(server: GunicornServer, seconds_before: float, clients: int = 6) -> Outcome:
    """SIGTERM during load: requests that reached the service all get an answer."""
    out = Outcome("SIGTERM during load")
    texts = Texts("停")
    exited = threading.Event()

    def one() -> Result:
        result = synthesize(server.url, texts.next())
        if result.error == "refused":  # the listener is closed: stop knocking so often
            time.sleep(0.05)
        return result

    def chaos() -> None:
        time.sleep(seconds_before)
        server.terminate()
        server.wait(120)
        exited.set()

    thread = threading.Thread(target=chaos, daemon=True)
    thread.start()
    results, elapsed = closed_loop(one, clients, seconds_before + 90, stop=exited)
    thread.join(5)
    refused_connect = [r for r in results if r.status == 0 and r.error == "refused"]
    dropped = [r for r in results if r.status == 0 and r not in refused_connect]
    bad_http = [r for r in results if r.status not in (0, 200, 503)]
    no_retry = [r for r in results if r.status == 503 and not r.retry_after]
    out.figures = {"seconds": round(elapsed, 1), "requests": len(results),
                   "statuses": statuses(results), "exit_status": server.process.returncode
                   if server.process else None}
    out.expect(not dropped, f"{len(dropped)} requests dropped without an answer: "
                            f"{statuses(dropped)}")
    out.expect(not bad_http, f"unexpected answers: {statuses(bad_http)}")
    out.expect(not no_retry, "503 without Retry-After while draining")
    out.expect(server.process is not None and server.process.returncode == 0,
               "master did not exit cleanly")
    return out
