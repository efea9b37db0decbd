"""Keep the runtimes' own log lines off the terminal (stdlib only; device-safe).

TensorFlow, absl and the TFLite runtimes print INFO lines from C++ straight to file descriptor 2
("INFO: Created TensorFlow Lite XNNPACK delegate for CPU.", "I0000 ... oneDNN custom operations
are on", "WARNING: All log messages before absl::InitializeLog() ..."). TF_CPP_MIN_LOG_LEVEL
silences neither the XNNPACK line nor absl's lines before its logger starts, so fd 2 itself is
filtered: known log lines are dropped, everything else passes. `edge-forecast --verbose` (or
EDGE_FORECAST_VERBOSE=1) shows them all.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import re
import sys
import tempfile
import threading
from collections.abc import Iterator

VERBOSE_ENV = "EDGE_FORECAST_VERBOSE"
# TFLite's minimal logger ("INFO: ..."), absl's prefix (I/W/E + MMDD time ...; fatal lines pass),
# absl's note about the logger not being started yet, and the second line of TensorFlow's
# cpu_feature_guard message (its first line carries the absl prefix, this one does not)
_NOISE = re.compile(rb"^(INFO: |[IWE]\d{4} \d\d:\d\d:\d+\.\d+ +\d+ [\w.]+:\d+\] |"
                    rb"WARNING: All log messages before absl::InitializeLog\(\) is called|"
                    rb"To enable the following instructions: .* "
                    rb"rebuild TensorFlow with the appropriate compiler flags)")


def verbose() -> bool:
    return os.environ.get(VERBOSE_ENV, "") not in ("", "0")


def is_noise(line: bytes) -> bool:
    return bool(_NOISE.match(line))


@contextlib.contextmanager
def fd2_captured(lines: list[bytes]) -> Iterator[None]:
    """Capture fd 2 (native code's stderr too) while the block runs; its non-blank lines are
    appended to `lines` afterwards. Without an fd 2 (an embedding host) nothing is captured."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):
        yield
        return
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            lines.extend(line for line in captured.read().splitlines(keepends=True) if line.strip())


@contextlib.contextmanager
def native_info_filtered(keep: bool = True) -> Iterator[None]:
    """Capture fd 2 while the block runs; then pass on the lines that are not log noise (none
    with keep=False). For short native calls: loading an interpreter, importing a runtime."""
    if verbose():
        yield
        return
    lines: list[bytes] = []
    try:
        with fd2_captured(lines):
            yield
    finally:
        kept = [line for line in lines if not is_noise(line)]
        if kept and keep:
            os.write(2, b"".join(kept))


def filter_process_stderr() -> None:
    """For the rest of this process and its children: fd 2 goes through a pipe, and a thread
    passes every line but log noise to the real stderr (flushed at exit)."""
    if verbose():
        return
    try:
        sys.stderr.flush()
        real = os.dup(2)
        read_end, write_end = os.pipe()
    except (OSError, ValueError):
        return
    os.dup2(write_end, 2)
    os.close(write_end)

    def pump() -> None:
        with os.fdopen(read_end, "rb") as pipe:
            for line in pipe:
                if not is_noise(line):
                    os.write(real, line)

    thread = threading.Thread(target=pump, name="stderr-filter", daemon=True)
    thread.start()

    def finish() -> None:  # our end closes: the pump reads to the end, then stops
        with contextlib.suppress(OSError, ValueError):
            sys.stderr.flush()
            os.dup2(real, 2)
        thread.join(timeout=5)
        # `real` may itself be an earlier filter's pipe (the CLI called twice in one process, as
        # tests do): closing it lets that filter's pump see the end instead of waiting 5 s at exit
        with contextlib.suppress(OSError):
            os.close(real)

    atexit.register(finish)
