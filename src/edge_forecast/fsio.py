"""Atomic outputs: nothing half-written is ever left under a final name (stdlib only)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from edge_forecast.errors import UserError


def write_text_atomic(path: Path, text: str) -> None:
    """Write a file through a temporary sibling and a rename."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_json_atomic(path: Path, data: Any) -> None:
    write_text_atomic(path, json.dumps(data, indent=2, sort_keys=False) + "\n")


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_output_dir(out: Path, force: bool, what: str) -> None:
    """Refuse an output path that is a file, or an existing directory without --force."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UserError(f"{what} output path {out} is a file, not a directory")
    if out.exists() and not force:
        raise UserError(f"{what} directory {out} already exists; pass --force to replace it")
    parent = out.resolve().parent
    if not parent.exists():
        parent.mkdir(parents=True, exist_ok=True)


@contextlib.contextmanager
def staged_dir(out: Path, force: bool, what: str) -> Iterator[Path]:
    """Yield a temporary sibling directory; on success it replaces `out` in one rename.

    On any failure (an exception, Ctrl-C) the staging directory is removed, so no directory that
    looks complete is left and an existing `out` is untouched.
    """
    out = Path(out)
    check_output_dir(out, force, what)
    stage = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.resolve().parent))
    try:
        yield stage
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.resolve().parent))
            os.replace(out, old / "x")
            os.replace(stage, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(stage, out)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
