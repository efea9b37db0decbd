"""The command line's argument handling: one line and exit 2 for every usage error, one parser of
comma-separated choices, removed option names (fast: nothing trains or loads a model)."""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import cli, one_line_error

from edge_forecast import cli as cli_module
from edge_forecast.bundle import GraphKind
from edge_forecast.edge import forecaster
from edge_forecast.edge.runtime import Runtime
from edge_forecast.edge.step import STATE_KEPT
from edge_forecast.normalization import CHOICES as NORMALIZE_CHOICES


def test_the_cli_lists_and_limits_are_the_libraries():
    assert tuple(g.value for g in GraphKind) == cli_module.GRAPHS
    assert ("all", *(r.value for r in Runtime)) == cli_module.RUNTIME_CHOICES
    assert (cli_module.MAX_HORIZON, cli_module.MAX_THREADS) == (forecaster.MAX_STEPS, forecaster.MAX_THREADS)
    assert cli_module.STATE_KEPT == STATE_KEPT
    assert cli_module.NORMALIZE_CHOICES == NORMALIZE_CHOICES


def test_help_imports_no_numpy():
    """The reason the lists above are copies: `edge-forecast --help` answers without numpy."""
    code = ("import sys; from edge_forecast.cli import cli; from click.testing import CliRunner; "
            "assert CliRunner().invoke(cli, ['--help']).exit_code == 0; "
            "print(sorted(m for m in ('numpy', 'tensorflow', 'keras') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == "[]", done.stdout + done.stderr


@pytest.mark.parametrize(("args", "fragments"), [
    (["export", "RUN", "--out", "OUT", "--quant", "int8,int4"],
     ("unknown quantization mode 'int4'; valid: float32, float16, dynamic, int8, int16x8",)),
    (["export", "RUN", "--out", "OUT", "--graphs", "window,loop"], ("unknown graph 'loop'; valid: window, step",)),
    (["export", "RUN", "--out", "OUT", "--rollout-horizon", "0"], ("'--rollout-horizon': 0 is not in the range",)),
    (["bench", "B", "--out", "OUT", "--runtimes", "all,litert"], ("'all' cannot be combined with another runtime",)),
    (["bench", "B", "--out", "OUT", "--runtimes", "coral"], ("unknown runtime 'coral'; valid: all, litert",)),
    (["bench", "B", "--out", "OUT", "--repeats", "-1"], ("'--repeats': -1 is not in the range x>=1",)),
    (["run", "B", "--horizon", "abc"], ("'--horizon': 'abc' is not a valid integer",)),
    (["demo", "--out", "OUT", "--epochs", "0"], ("'--epochs': 0 is not in the range x>=1",)),
    (["run", "B", "--frobnicate"], ("No such option '--frobnicate'", "edge-forecast run --help")),
])
def test_usage_errors_are_one_line_and_exit_2(tmp_path, args, fragments):
    args = [str(tmp_path / a) if a in ("RUN", "OUT", "B") else a for a in args]
    one_line_error(cli(*args), *fragments)
    assert not (tmp_path / "OUT").exists()


def test_comma_choices_come_back_canonical():
    kind = cli_module.CommaChoices(GraphKind, "graph")
    assert kind.convert(" Step,rollout,step ", None, None) == "step,rollout"


@pytest.mark.parametrize(("args", "old"), [
    (["run", "B", "--steps", "3"], "--steps"),
    (["bench", "B", "--out", "OUT", "--steps", "3"], "--steps"),
    (["export", "B", "--out", "OUT", "--rollout-steps", "3"], "--rollout-steps"),
    (["train", "--out", "OUT", "--rollout", "3"], "--rollout"),
])
def test_names_renamed_before_0_1_0_are_unknown_options(tmp_path, args, old):
    # CHANGELOG.md: --horizon, --rollout-horizon and --train-horizon replaced them
    args = [str(tmp_path / a) if a in ("OUT", "B") else a for a in args]
    one_line_error(cli(*args), f"No such option '{old}'")
    assert not (tmp_path / "OUT").exists()
