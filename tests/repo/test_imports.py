"""Import directions: no cycle between modules, no package importing one above it, and the device
path free of TensorFlow and of the desktop packages.

Every module under src/edge_forecast is parsed with `ast`; every import counts, those inside
functions too (a deferred import is still a dependency, only a later one).
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"
ROOT = "edge_forecast"

# Which group each module belongs to: a subpackage is its own group; a top-level module is named
# here. The contracts are the stages' shared vocabulary (stdlib + numpy): errors, files, signals,
# the bundle and run documents, the closed loop and its scores. `edge_forecast` is the package's
# __init__ (the version, the lazily loaded Python API).
CONTRACTS = {"version", "errors", "fsio", "quiet", "children", "tabular", "signals", "normalization",
             "forecast", "quality", "evaluation", "intervals", "baselines", "seasons", "bundle", "run_record",
             "profile"}
# The package root is the Python API's facade (its names load lazily): it belongs with the app, and
# no module imports it (the version lives in `version`).
TOP_LEVEL = {**{name: "contracts" for name in CONTRACTS}, "tflite_file": "reader", ROOT: "app",
             "cli": "app", "cli_reference": "app", "demo": "app", "api": "app", "detect": "app",
             "__main__": "app"}

# What each group may import (besides itself). Read upwards: contracts <- reader <- edge (the
# device runner) <- train, export, micro, bench <- app (the CLI, the demo, the Python API).
# Among the stages only the Keras ones look sideways: export builds its graphs from train's
# models, bench's Keras baseline (a desktop child process) runs them, and micro compacts its
# stripped copies as export compacts what it converts (export/compact.py).
ALLOWED = {
    "contracts": set(),
    "reader": {"contracts"},
    "edge": {"contracts", "reader"},
    "train": {"contracts"},
    "export": {"contracts", "reader", "edge", "train"},
    "micro": {"contracts", "reader", "edge", "export"},
    "bench": {"contracts", "reader", "edge", "train"},
    # fleet: per sensor, what the app's train and export commands do, on a pool or Ray
    "fleet": {"contracts", "reader", "train", "export"},
    "app": {"contracts", "reader", "edge", "train", "export", "micro", "bench", "fleet"},
}
# the device: what a bundle needs to run, on numpy + one interpreter
DEVICE_MODULES = ["edge_forecast.edge", "edge_forecast.tflite_file", "edge_forecast.bundle",
                  "edge_forecast.signals"]
DESKTOP_GROUPS = ("train", "export", "micro", "bench")


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted((SRC / ROOT).rglob("*.py")):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The project module an imported name lives in (the longest module prefix), or None."""
    parts = name.split(".")
    while parts:
        if ".".join(parts) in modules:
            return ".".join(parts)
        parts.pop()
    return None


def _imports(module: str, path: Path, modules: dict[str, Path]) -> set[str]:
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            # `from pkg import name`: the submodule pkg.name when there is one, else pkg itself
            names = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
        else:
            continue
        targets = (_resolve(n, modules) for n in names)
        found.update(t for t in targets if t is not None and t != module)
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {m: _imports(m, p, modules) for m, p in modules.items()}


def group(module: str) -> str:
    parts = module.split(".")
    if len(parts) > 2 or (len(parts) == 2 and (SRC / ROOT / parts[1]).is_dir()):
        return parts[1]
    name = parts[1] if len(parts) == 2 else ROOT
    if name not in TOP_LEVEL:
        raise AssertionError(f"{module} is in no group: add it to TOP_LEVEL in {__file__}")
    return TOP_LEVEL[name]


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle (its modules in order, the first repeated at the end), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(module: str) -> list[str] | None:
        state[module] = 1
        path.append(module)
        for target in sorted(graph[module]):
            if state.get(target) == 1:
                return path[path.index(target):] + [target]
            if target not in state and (found := visit(target)):
                return found
        path.pop()
        state[module] = 2
        return None

    for module in sorted(graph):
        if module not in state and (found := visit(module)):
            return found
    return None


def test_the_parser_sees_every_kind_of_import(tmp_path):
    source = tmp_path / "mod.py"
    source.write_text(
        "import edge_forecast.signals\n"
        "from edge_forecast.bench import stats\n"  # a submodule
        "from edge_forecast.bundle import load_bundle\n"  # a name in a module
        "from . import errors\n"  # relative
        "import numpy\n"  # not ours
        "def later():\n"
        "    from edge_forecast.train.loop import train_run\n")
    modules = _modules()
    assert _imports("edge_forecast.mod", source, modules) == {
        "edge_forecast.signals", "edge_forecast.bench.stats", "edge_forecast.bundle",
        "edge_forecast.errors", "edge_forecast.train.loop"}


def test_no_import_cycle_between_modules():
    cycle = _cycle(_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_allowed_directions_form_layers():
    """The table itself has no cycle: it orders the groups."""
    assert set(TOP_LEVEL.values()) <= set(ALLOWED)
    assert _cycle({g: set(allowed) for g, allowed in ALLOWED.items()}) is None


def test_no_package_imports_one_above_it():
    graph = _graph()
    wrong = sorted(f"{m} ({group(m)}) imports {t} ({group(t)})"
                   for m, targets in graph.items() for t in targets
                   if group(t) != group(m) and group(t) not in ALLOWED[group(m)])
    assert not wrong, "\n".join(wrong)


def test_every_subpackage_has_a_row():
    subpackages = {p.name for p in (SRC / ROOT).iterdir() if (p / "__init__.py").exists()}
    assert subpackages <= set(ALLOWED), subpackages - set(ALLOWED)


@pytest.mark.parametrize("module", DEVICE_MODULES)
def test_the_device_path_imports_no_tensorflow_and_no_desktop_package(module):
    """In a fresh interpreter, so nothing another test imported hides a dependency."""
    edge = sorted(m for m in _modules() if m.startswith("edge_forecast.edge."))
    code = (
        "import importlib, sys\n"
        f"for name in {[module, *edge] if module == 'edge_forecast.edge' else [module]!r}:\n"
        "    importlib.import_module(name)\n"
        "heavy = ('tensorflow', 'keras', 'tf_keras')\n"
        f"desktop = [['edge_forecast', g] for g in {DESKTOP_GROUPS!r}]\n"
        "bad = sorted(m for m in sys.modules\n"
        "             if m.split('.')[0] in heavy or m.split('.')[:2] in desktop)\n"
        "assert not bad, bad\n"
    )
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env=env)
    assert done.returncode == 0, done.stderr


def test_the_reader_knows_the_schema_enums():
    """tflite_file's name tables are schema.fbs' enums, as ai-edge-litert generated them."""
    schema = pytest.importorskip("ai_edge_litert.schema_py_generated")
    from edge_forecast.tflite_file import BUILTIN_OPERATORS, TENSOR_TYPES

    def names(enum) -> list[str]:
        values = {v: k for k, v in vars(enum).items() if not k.startswith("_")}
        return [values[i] for i in range(len(values))]

    operators, types = names(schema.BuiltinOperator), names(schema.TensorType)
    assert list(BUILTIN_OPERATORS[: len(operators)]) == operators
    assert list(TENSOR_TYPES[: len(types)]) == [n.lower() for n in types]
