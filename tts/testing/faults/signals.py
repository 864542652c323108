"""Signals and restarts of the server's processes under load: a worker SIGKILLed (only
the requests in flight on it may fail), workers recycled by `max_requests` (none may
fail), and the master SIGTERMed (every request that arrived is answered)."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

from tts.testing.corpus_texts import Texts
from tts.testing.faults.outcome import Outcome, statuses
from tts.testing.gunicorn_server import GunicornServer
from tts.testing.load import Result, closed_loop, synthesize, wait_until

# Worker churn is measured under a load the pod admits in full: on a busy shared
# machine a synthesis can take seconds, and the default QUEUE_WAIT_S would refuse part
# of even 4 clients' requests, which would hide what churn itself costs.
WITHIN_CAPACITY = {"QUEUE_WAIT_S": "60"}


def new_and_repeated(server: GunicornServer, texts: Texts) -> Callable[[], Result]:
    """A request function for `closed_loop`: each client sends a new text, then nine
    repeats of it. Hits are cheap, so many requests arrive while a replacement worker
    starts, and workers reach max_requests within seconds; new texts keep synthesis busy."""
    local = threading.local()

    def one() -> Result:
        local.turn = getattr(local, "turn", 0) + 1
        if local.turn % 10 == 1:
            local.text = texts.next()
        return synthesize(server.url, local.text)

    return one


def kill_worker(server: GunicornServer, seconds: float, clients: int = 8) -> Outcome:
    """SIGKILL one worker at 1/3 of a load of new texts and their repeats; it is
    replaced, and only the requests in flight on it fail."""
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
    results, elapsed = closed_loop(new_and_repeated(server, texts), clients, seconds)
    thread.join(10)
    replaced = wait_until(lambda: len(server.worker_pids()) == server.workers
                          and not set(server.worker_pids()) & {killed[0][0]}, 30)
    recovered = 0.0
    try:
        recovered = server.wait_ready(ready_before + 1, timeout_s=60)
    except Exception as exc:  # reported as a violation
        out.violations.append(f"not ready again: {exc}"[:300])
    answers_after = [synthesize(server.url, texts.next()).status for _ in range(4)]
    kill_at = start + killed[0][1] if killed else math.inf
    # Only a request on the killed worker at the moment of the kill can fail (its
    # connection dies with it): one that started before the kill and ended after it.
    # The replacement takes no connection before it is warm, so nothing is refused.
    failed = [r for r in results if r.status != 200]
    on_victim = [r for r in failed if r.status == 0 and r.started <= kill_at
                 and r.started + r.seconds >= kill_at]
    out.figures = {"seconds": round(elapsed, 1), "requests": len(results),
                   "statuses": statuses(results), "killed_pid": killed[0][0] if killed else None,
                   "killed_at_s": round(killed[0][1], 2) if killed else None,
                   "workers_before": before, "workers_after": server.worker_pids(),
                   "ready_again_s": round(recovered, 2), "answers_after": answers_after,
                   "failed_in_flight_on_killed_worker": len(on_victim),
                   "failed_otherwise": len(failed) - len(on_victim)}
    out.expect(bool(killed), "no worker was killed")
    out.expect(replaced, "gunicorn did not replace the killed worker")
    out.expect(len(failed) == len(on_victim),
               f"{len(failed) - len(on_victim)} requests failed that were not in flight on "
               f"the killed worker: {statuses([r for r in failed if r not in on_victim])}")
    out.expect(answers_after == [200] * 4, f"after recovery: {answers_after}")
    return out


def recycle(server: GunicornServer, seconds: float, clients: int = 8) -> Outcome:
    """Workers recycled by `max_requests` during a load of new texts and their repeats
    (run the server with a small MAX_REQUESTS): every request gets its audio."""
    out = Outcome("max_requests recycle")
    texts = Texts("换")
    before = set(server.worker_pids())
    one = new_and_repeated(server, texts)
    results, elapsed = closed_loop(one, clients, seconds)
    after = set(server.worker_pids())
    failed = [r for r in results if r.status != 200]
    out.figures = {"seconds": round(elapsed, 1), "requests": len(results),
                   "statuses": statuses(results),
                   "workers_replaced": len(before - after),
                   "replacements": server.ready_lines() - server.workers}
    out.expect(server.ready_lines() > server.workers, "no worker was recycled")
    out.expect(not failed, f"{len(failed)} requests failed: {statuses(failed)}")
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
