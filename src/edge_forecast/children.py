"""Run work items in child processes that may crash or hang, without losing the other items.

A child is `python -m MODULE JOB.json ITEM [ITEM ...]`: its job (a contracts.jobs dataclass) in a
JSON file (`run_job` writes it, `read_job` reads it), then the items to work through. It prints
one line `EFJSON {...}` per finished item, with "item" naming it. If the child dies (a converter
segfault) or goes silent past the timeout (an interpreter stuck in a loop), the item it was on is
recorded as failed, and a new child takes the remaining items (stdlib only).
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

from edge_forecast.contracts.schema import Contract

J = TypeVar("J", bound=Contract)

PREFIX = "EFJSON "


def emit(item: str, **result) -> None:
    """Called in the child: report one finished item."""
    sys.stdout.write(PREFIX + json.dumps({"item": item, **result}) + "\n")
    sys.stdout.flush()


def read_job(kind: type[J], argv: Sequence[str]) -> tuple[J, list[str]]:
    """Called in the child: (its job, read from the file argv[0], the items after it)."""
    return kind.from_json(Path(argv[0]).read_text(encoding="utf-8")), list(argv[1:])


def run_job(module: str, job: Contract, items: Sequence[str], timeout: float, *, python: str = sys.executable,
            job_dir: Path | None = None, env: dict | None = None,
            on_result: Callable[[str, dict], None] | None = None, per_item_crashes: bool = False) -> dict[str, dict]:
    """Run `items` through `python -m module JOB.json ...` children (run_resilient); the job file
    goes in `job_dir`, or in a temporary directory removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="edge-forecast-job-", dir=job_dir) as tmp:
        job_path = Path(tmp) / "job.json"
        job_path.write_text(job.to_json(), encoding="utf-8")
        return run_resilient(lambda pending: [python, "-m", module, str(job_path), *pending], items, timeout,
                             env=env, on_result=on_result, per_item_crashes=per_item_crashes)


def _signal_name(code: int) -> str:
    try:
        return signal.Signals(-code).name
    except ValueError:
        return f"signal {-code}"


def _describe_exit(code: int, stderr_tail: list[str]) -> str:
    if code < 0:
        return f"the child process crashed ({_signal_name(code)})"
    last = next((line for line in reversed(stderr_tail) if line.strip()), "")
    return f"the child process exited with code {code}" + (f": {last.strip()}" if last else "")


def run_resilient(make_cmd: Callable[[list[str]], list[str]], items: Sequence[str], timeout: float,
                  env: dict | None = None, on_result: Callable[[str, dict], None] | None = None,
                  per_item_crashes: bool = False) -> dict[str, dict]:
    """Run `items` through children built by `make_cmd(pending)`; return item -> result dict.

    If the first child dies before finishing any item, every item fails with that reason (a
    startup failure would only repeat) unless `per_item_crashes` (a runtime probe: the first file
    may be the one that crashes); otherwise a dead child fails the item it was on and a new
    child takes the rest. A death by a signal adds "crash": the signal's name (SIGSEGV, ...).
    """
    results: dict[str, dict] = {}
    pending = list(items)
    first = True
    while pending:
        proc = subprocess.Popen(make_cmd(pending), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, env={**os.environ, **(env or {})})
        try:
            _drive(proc, pending, results, timeout, on_result, fail_all_on_early_death=first and not per_item_crashes)
            first = False
        finally:  # Ctrl-C or any error here must not leave a converter or interpreter running
            if proc.poll() is None:
                proc.kill()
            proc.wait()
    return results


def _drive(proc: subprocess.Popen, pending: list[str], results: dict, timeout: float, on_result,
           fail_all_on_early_death: bool) -> None:
    lines: queue.Queue = queue.Queue()
    stderr_tail: list[str] = []
    threading.Thread(target=_pump_stdout, args=(proc, lines), daemon=True).start()
    err_thread = threading.Thread(target=_pump_stderr, args=(proc, stderr_tail), daemon=True)
    err_thread.start()
    finished = 0
    while pending:
        try:
            msg = lines.get(timeout=timeout)
        except queue.Empty:
            proc.kill()
            proc.wait()
            _record(results, pending, pending[0], {"ok": False, "error": f"timed out after {timeout:g} s (hung)"},
                    on_result)
            return
        if msg is None:  # stdout closed: the child ended
            code = proc.wait()
            err_thread.join(timeout=5)  # the reason is in the last stderr lines: read them all first
            failure = {"ok": False, "error": _describe_exit(code, stderr_tail)}
            if code < 0:
                failure["crash"] = _signal_name(code)
            for item in list(pending) if finished == 0 and fail_all_on_early_death else [pending[0]]:
                _record(results, pending, item, dict(failure), on_result)
            return
        item = msg.pop("item")
        if item in pending:
            finished += 1
            _record(results, pending, item, msg, on_result)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()


def _record(results, pending, item, result, on_result) -> None:
    results[item] = result
    pending.remove(item)
    if on_result:
        on_result(item, result)


def _pump_stdout(proc: subprocess.Popen, lines: queue.Queue) -> None:
    for line in proc.stdout:
        if line.startswith(PREFIX):
            try:
                lines.put(json.loads(line[len(PREFIX):]))
            except json.JSONDecodeError:
                continue
    lines.put(None)


def _pump_stderr(proc: subprocess.Popen, tail: list[str]) -> None:
    for line in proc.stderr:
        tail.append(line)
        del tail[:-20]
