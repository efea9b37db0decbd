"""The fd-2 filter drops the runtimes' known log lines and nothing else."""

from __future__ import annotations

import pytest

from edge_forecast.quiet import is_noise

NOISE = [
    b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\n",
    b"I0000 00:00:1764423000.123456   4242 cpu_feature_guard.cc:210] This TensorFlow binary is optimized to use "
    b"available CPU instructions in performance-critical operations.\n",
    b"To enable the following instructions: AVX2 AVX512F AVX512_VNNI AVX512_BF16 FMA, in other operations, "
    b"rebuild TensorFlow with the appropriate compiler flags.\n",
    b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n",
]
KEPT = [
    b"error: bundle.json: missing\n",
    b"warning: lstm/int8 closed loop is 3.1x its float32 export\n",
    b"F0000 00:00:1764423000.123456   4242 check.cc:1] Check failed\n",  # fatal lines pass
    b"To enable the following instructions, read the manual\n",
]


@pytest.mark.parametrize("line", NOISE)
def test_known_log_lines_are_noise(line):
    assert is_noise(line)


@pytest.mark.parametrize("line", KEPT)
def test_other_lines_pass(line):
    assert not is_noise(line)


def test_a_second_filter_lets_the_first_finish_at_exit():
    """The CLI called twice in one process (as tests do) chains two filters: at exit both pumps end
    and every line still arrives (the first pump used to wait out its 5 s join, 25 s of the suite)."""
    import subprocess
    import sys
    import textwrap

    script = textwrap.dedent("""
        import atexit, os, threading
        from edge_forecast.quiet import filter_process_stderr
        filter_process_stderr()
        filter_process_stderr()
        os.write(2, b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\\n")
        os.write(2, b"kept line\\n")
        atexit._run_exitfuncs()
        alive = [t for t in threading.enumerate() if t.name == "stderr-filter" and t.is_alive()]
        print(len(alive))
    """)
    env = {k: v for k, v in __import__("os").environ.items() if k != "EDGE_FORECAST_VERBOSE"}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.decode().strip() == "0"
    assert done.stderr == b"kept line\n"
