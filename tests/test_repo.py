"""The repository's promises: the README's two commands, CI calling the same test command, lint."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest
from conftest import ROOT


def _readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    block = text.split("```bash\n", 1)[1].split("```", 1)[0]
    return [line for line in block.splitlines() if line.strip()]


def test_readme_opens_with_two_commands_and_ci_runs_the_second():
    commands = _readme_commands()
    assert len(commands) == 2
    assert "edge-forecast demo" in commands[0] and "python3.11 -m venv" in commands[0]
    ci = (ROOT / ".ci" / "run").read_text()
    assert commands[1] in ci.splitlines()


def test_sources_are_ruff_clean():
    """ruff of the interpreter running the tests (the dev extra), wherever its environment lives."""
    if importlib.util.find_spec("ruff") is None:
        pytest.skip("ruff is not installed for this Python (pip install -e '.[dev]')")
    done = subprocess.run([sys.executable, "-m", "ruff", "check", "src", "tests", "benchmarks"], cwd=ROOT,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_package_runs_as_a_module():
    done = subprocess.run([sys.executable, "-m", "edge_forecast", "--version"], capture_output=True, text=True)
    assert done.returncode == 0 and "edge-forecast" in done.stdout
