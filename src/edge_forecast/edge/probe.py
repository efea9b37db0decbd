"""Child process: can this runtime load and run these .tflite files? (numpy + the runtime only)

Usage: python -m edge_forecast.edge.probe JOB.json FILE [FILE ...]
The job (contracts.jobs.ProbeJob) names the runtime: litert, tflite-runtime, tensorflow or
tflite-micro. The microcontroller interpreter hangs on a WHILE graph, so the parent runs this
with a timeout.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from edge_forecast.children import emit, read_job
from edge_forecast.contracts.jobs import ProbeJob
from edge_forecast.edge.runtime import MICRO, Runtime, make_interpreter, runtime_version
from edge_forecast.tflite_file import operators_of, state_inside, subgraph_io


def _run_tflite(runtime: Runtime, path: Path) -> None:
    interp = make_interpreter(runtime, path)
    for detail in interp.get_input_details():
        interp.set_tensor(detail["index"], np.zeros(detail["shape"], dtype=detail["dtype"]))
    interp.invoke()
    for detail in interp.get_output_details():
        interp.get_tensor(detail["index"])


# Why the microcontroller copy takes explicit-state graphs only: `micro`'s files and checks are
# written for explicit state, and TFLM's Python interpreter has no signatures to save or restore a
# state-inside graph's state (README: "Where the step state lives"); recorded as not run, so
# `micro` skips these variants
STATE_INSIDE_ON_MICRO = ("the state is kept in resource variables, which the micro copy does not use "
                         "(export --step-state explicit for a microcontroller)")


def _run_micro(path: Path) -> None:
    from tflite_micro.python.tflite_micro import runtime

    data = path.read_bytes()
    if state_inside(operators_of(data)[0]):
        raise ValueError(STATE_INSIDE_ON_MICRO)

    interp = runtime.Interpreter.from_bytes(data, arena_size=1024 * 1024)
    for i in range(len(subgraph_io(data)[0])):  # step graphs have x and the state tensors
        detail = interp.get_input_details(i)
        interp.set_input(np.zeros(detail["shape"], dtype=detail["dtype"]), i)
    interp.invoke()
    interp.get_output(0)


def main(argv: list[str]) -> int:
    job, files = read_job(ProbeJob, argv)
    name = job.runtime
    version = runtime_version(name)
    for file in files:
        try:
            if name == MICRO:
                _run_micro(Path(file))
            else:
                _run_tflite(Runtime(name), Path(file))
            emit(file, ok=True, version=version)
        except Exception as exc:  # the error text is the finding: it goes into bundle.json
            text = str(exc).strip().splitlines()
            emit(file, ok=False, version=version, error=(text[0] if text else type(exc).__name__)[:300])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
