"""Make one child process die by SIGSEGV on one item, from outside the product.

`crash_env` writes a sitecustomize.py into a directory of the test's own and returns the
environment that puts it first on PYTHONPATH: every Python started with it wraps
`children.emit`, and the child running `module` kills itself instead of reporting `item`
(optionally only when its job's `kind` matches), as a converter or runtime crash would.
"""

from __future__ import annotations

import os
from pathlib import Path

SHIM = """\
import json, os, signal, sys

import edge_forecast.children as children

_emit = children.emit


def emit(item, **result):
    main = getattr(sys.modules.get("__main__"), "__spec__", None)
    if main is not None and main.name == {module!r} and item == {item!r}:
        kind = {kind!r}
        if kind is None or json.loads(open(sys.argv[1]).read()).get("kind") == kind:
            os.kill(os.getpid(), signal.SIGSEGV)
    _emit(item, **result)


children.emit = emit
"""


def crash_env(where: Path, module: str, item: str, kind: str | None = None) -> dict[str, str]:
    shim = Path(where) / "crash-shim"
    shim.mkdir(parents=True, exist_ok=True)
    (shim / "sitecustomize.py").write_text(SHIM.format(module=module, item=item, kind=kind))
    return {"PYTHONPATH": os.pathsep.join(p for p in (str(shim), os.environ.get("PYTHONPATH")) if p)}
