"""Which TFLite interpreter to use: ai_edge_litert, then tflite_runtime, then tensorflow.lite."""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import io
from enum import Enum
from pathlib import Path

from edge_forecast.errors import UserError, choice_error
from edge_forecast.quiet import native_info_filtered


class Runtime(str, Enum):
    LITERT = "litert"
    TFLITE_RUNTIME = "tflite-runtime"
    TENSORFLOW = "tensorflow"


# Preference order for `auto` (docs/guide/device-and-raspberry-pi.md: litert loads everything, int8 ~6x faster).
AUTO_ORDER = (Runtime.LITERT, Runtime.TFLITE_RUNTIME, Runtime.TENSORFLOW)
_PACKAGES = {Runtime.LITERT: "ai_edge_litert", Runtime.TFLITE_RUNTIME: "tflite_runtime",
             Runtime.TENSORFLOW: "tensorflow"}
_PIP_NAMES = {Runtime.LITERT: "ai-edge-litert", Runtime.TFLITE_RUNTIME: "tflite-runtime",
              Runtime.TENSORFLOW: "tensorflow"}
# Bundle keys for runtimes: the enum values plus the microcontroller interpreter (export probes it).
MICRO = "tflite-micro"


def is_installed(runtime: Runtime) -> bool:
    try:
        return importlib.util.find_spec(_PACKAGES[runtime]) is not None
    except (ImportError, ValueError):
        return False


def available_runtimes() -> list[Runtime]:
    return [r for r in AUTO_ORDER if is_installed(r)]


def parse_runtime(name: str) -> Runtime | None:
    """None means auto."""
    if name in (None, "auto"):
        return None
    try:
        return Runtime(name)
    except ValueError:
        raise choice_error("runtime", name, ["auto"] + [r.value for r in Runtime]) from None


def resolve_runtime(name: str | Runtime | None = "auto") -> Runtime:
    """The runtime to use, or a one-line error telling what to install."""
    wanted = parse_runtime(name.value if isinstance(name, Runtime) else name)
    if wanted is None:
        found = available_runtimes()
        if not found:
            raise UserError(
                "no TFLite interpreter is installed; install one: pip install ai-edge-litert "
                "(or tflite-runtime on Python <= 3.11 with numpy < 2)"
            )
        broken = []
        for runtime in found:  # an installed but broken runtime (tflite-runtime on numpy 2) is skipped
            try:
                interpreter_class(runtime)
                return runtime
            except UserError as exc:
                broken.append(str(exc))
        raise UserError("; ".join(broken))
    if not is_installed(wanted):
        raise UserError(f"runtime {wanted.value} is not installed; pip install {_PIP_NAMES[wanted]}")
    interpreter_class(wanted)
    return wanted


def interpreter_class(runtime: Runtime):
    """The Interpreter class, or a UserError when the package is installed but cannot be imported.

    The import runs with stderr captured: a broken install prints pages before it fails, and a
    one-line error says it better."""
    numpy = _numpy_version()
    if runtime is Runtime.TFLITE_RUNTIME and numpy.split(".")[0].isdigit() and int(numpy.split(".")[0]) >= 2:
        # 2.14 (the last release) is built for numpy 1.x: on numpy 2 it imports, then fails to
        # build an interpreter after numpy's 90-line explanation
        raise UserError(f"runtime tflite-runtime is installed but cannot work here: it was built for numpy 1.x "
                        f"and numpy {numpy} is installed; pip install 'numpy<2' (or use ai-edge-litert: "
                        f"pip install ai-edge-litert)")
    module = {Runtime.LITERT: "ai_edge_litert.interpreter", Runtime.TFLITE_RUNTIME: "tflite_runtime.interpreter",
              Runtime.TENSORFLOW: "tensorflow"}[runtime]
    try:
        with contextlib.redirect_stderr(io.StringIO()), native_info_filtered(keep=False):
            found = importlib.import_module(module)
        return found.lite.Interpreter if runtime is Runtime.TENSORFLOW else found.Interpreter
    except (ImportError, AttributeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        hint = " (tflite-runtime needs numpy < 2)" if runtime is Runtime.TFLITE_RUNTIME else ""
        raise UserError(f"runtime {runtime.value} is installed but cannot be imported: {first}{hint}") from None


def _numpy_version() -> str:
    from importlib import metadata

    try:
        return metadata.version("numpy")
    except metadata.PackageNotFoundError:
        return "unknown"


def make_interpreter(runtime: Runtime | str, model_path: Path, threads: int | None = None):
    """A ready interpreter (tensors allocated) for one .tflite file. tflite-micro's interpreter
    (`MICRO`) is built by edge_forecast.micro, which adapts it to the same interface: the device
    package never imports the microcontroller code."""
    if runtime == MICRO:
        raise ValueError("tflite-micro: use edge_forecast.micro.interpreter.interpreter_for")
    cls = interpreter_class(runtime)
    with native_info_filtered():
        interp = cls(model_path=str(model_path), num_threads=threads)
        interp.allocate_tensors()
    return interp


def runtime_version(runtime: Runtime | str) -> str | None:
    from importlib import metadata

    dist = {
        Runtime.LITERT.value: "ai-edge-litert",
        Runtime.TFLITE_RUNTIME.value: "tflite-runtime",
        Runtime.TENSORFLOW.value: "tensorflow-cpu",
        MICRO: "tflite-micro",
    }[Runtime(runtime).value if isinstance(runtime, Runtime) else runtime]
    for name in (dist, "tensorflow") if dist == "tensorflow-cpu" else (dist,):
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return None
