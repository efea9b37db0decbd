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
    assert f"bash scripts/first_time.sh {commands[1]}" in ci.splitlines()


def test_sources_are_ruff_clean():
    """ruff of the interpreter running the tests (the dev extra), wherever its environment lives."""
    if importlib.util.find_spec("ruff") is None:
        pytest.skip("ruff is not installed for this Python (pip install -e '.[dev]')")
    done = subprocess.run([sys.executable, "-m", "ruff", "check", "src", "tests", "benchmarks", "scripts"], cwd=ROOT,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_package_runs_as_a_module():
    done = subprocess.run([sys.executable, "-m", "edge_forecast", "--version"], capture_output=True, text=True)
    assert done.returncode == 0 and "edge-forecast" in done.stdout


def _arm64_main_with(fake_body: str) -> subprocess.CompletedProcess:
    """scripts/arm64.py's main with its build step replaced by `fake_body` (runtime, suite, cpu)."""
    code = (f"import subprocess, sys\nsys.path.insert(0, {str(ROOT / 'scripts')!r})\nimport arm64\n"
            f"def fake(runtime, suite, cpu):\n{fake_body}\n"
            "arm64.ensure_python = fake\nsys.exit(arm64.main(['python', 'litert']))\n")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)


def test_arm64_set_up_output_never_reaches_the_stdout_a_caller_reads():
    """`X="$(scripts/arm64.py python litert)"` reads one path: a stray print or a child process
    (apt-get, pip) that inherits fd 1 writes to stderr instead."""
    done = _arm64_main_with("    print('Get:1 bookworm InRelease [151 kB]')\n"
                            "    subprocess.run(['echo', 'Reading package lists...'])\n"
                            "    return '/bin/sh'")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "/bin/sh\n"
    assert "Get:1 bookworm" in done.stderr and "Reading package lists" in done.stderr


def test_arm64_set_up_failure_is_one_line_and_exit_2():
    done = _arm64_main_with("    raise arm64.SetupError('apt-get install mmdebstrap: apt-get exited with 100')")
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.strip().splitlines() == [
        "error: arm64 set-up: apt-get install mmdebstrap: apt-get exited with 100"]


def test_a_set_up_failure_stops_the_test_command_before_any_test(tmp_path):
    done = subprocess.run(["bash", str(ROOT / "scripts" / "test.sh"), "--setup-only"], cwd=tmp_path,
                          env={"PATH": "/usr/bin:/bin", "PYTHON": "python-that-is-not-there"},
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.strip().splitlines()[-1].startswith(
        "error: set-up failed: python-that-is-not-there not found: install Python 3.11")


def test_ci_takes_the_first_time_path_before_the_suites():
    lines = [line for line in (ROOT / ".ci" / "run").read_text().splitlines() if line.startswith("bash ")]
    assert lines == ["bash scripts/first_time.sh bash scripts/test.sh"]
