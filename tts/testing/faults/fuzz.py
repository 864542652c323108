"""Fuzzing: the schemathesis CLI against live gunicorn, from GET /openapi.json."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tts.testing.faults.outcome import Outcome
from tts.testing.gunicorn_server import GunicornServer

SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"


def fuzz(server: GunicornServer, examples: int, max_time_s: int) -> Outcome:
    """The schemathesis CLI against live gunicorn; counts cases from its JSON report."""
    out = Outcome("schemathesis fuzzing")
    with tempfile.TemporaryDirectory(prefix="fuzz-") as tmp:
        report = Path(tmp) / "report.ndjson"
        command = [str(SCHEMATHESIS), "run", server.url + "/openapi.json",
                   "--checks", "not_a_server_error,status_code_conformance,"
                   "content_type_conformance,response_headers_conformance,"
                   "response_schema_conformance",
                   "--max-examples", str(examples), "--max-time", str(max_time_s),
                   "--phases", "examples,coverage,fuzzing", "--seed", "1",
                   "--workers", "2", "--request-timeout", "30", "--no-color",
                   "--report", "ndjson", "--report-ndjson-path", str(report)]
        started = time.monotonic()
        proc = subprocess.run(command, capture_output=True, text=True,
                              timeout=max_time_s + 300)
        elapsed = time.monotonic() - started
        cases, failures = count_cases(report)
    generated = re.search(r"(\d+) generated", proc.stdout)
    cases = int(generated.group(1)) if generated else cases
    summary = [line for line in proc.stdout.splitlines() if line.strip()]
    summary = summary[-25:] if proc.returncode == 0 else summary[-80:]
    out.figures = {"command": " ".join([*command[:2], "<server>/openapi.json", *command[3:-4]]),
                   "exit_code": proc.returncode, "seconds": round(elapsed, 1),
                   "generated_cases": cases, "failures": failures,
                   "summary": summary}
    out.expect(proc.returncode == 0, f"schemathesis exited {proc.returncode}")
    out.expect(cases >= 1000 or examples < 100, f"only {cases} cases generated")
    return out


def count_cases(report: Path) -> tuple[int, list[str]]:
    """Test cases sent and failure titles, from schemathesis' ndjson event stream."""
    if not report.exists():
        return 0, ["no report written"]
    text = report.read_text(encoding="utf-8", errors="replace")
    cases = len(re.findall(r'"(?:ScenarioFinished)"', text))
    requests_made = 0
    failures: list[str] = []
    for line in text.splitlines():
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            continue
        finished = event.get("ScenarioFinished")
        if isinstance(finished, dict):
            recorder = finished.get("recorder") or {}
            requests_made += len(recorder.get("interactions") or {})
            for check_list in (recorder.get("checks") or {}).values():
                for check in check_list:
                    if check.get("status") == "FAILURE":
                        failures.append(f"{check.get('name')}: "
                                        f"{(check.get('failure_info') or {}).get('failure')}"
                                        [:200])
    return max(requests_made, cases), sorted(set(failures))[:20]
