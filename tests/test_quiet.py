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
