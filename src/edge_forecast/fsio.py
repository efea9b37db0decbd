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


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text_atomic(path: Path, text: str) -> None:
    """Write a file through a temporary sibling, fsync and a rename (a power cut on a device's
    SD card must not leave an empty bundle.json)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; outputs are shared with device users
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_json_atomic(path: Path, data: Any) -> None:
    """Strict JSON: NaN and inf are not JSON, so a non-finite number is a bug (write null)."""
    write_text_atomic(path, json.dumps(data, indent=2, sort_keys=False, allow_nan=False) + "\n")


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_output_dir(out: Path, force: bool, what: str, inputs: tuple[Path, ...] = ()) -> None:
    """Refuse an output path that is a file, an existing directory without --force, or one that
    is (or holds, or lies inside) an input: replacing it would delete what is being read."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UserError(f"{what} output path {out} is a file, not a directory")
    target = out.resolve()
    for source in inputs:
        src = Path(source).resolve()
        if target == src or src in target.parents or target in src.parents:
            raise UserError(f"--out {out} overlaps the input {source}; choose another directory")
    if out.exists() and not force:
        raise UserError(f"{what} directory {out} already exists; pass --force to replace it")


@contextlib.contextmanager
def staged_dir(out: Path, force: bool, what: str) -> Iterator[Path]:
    """Yield a temporary sibling directory; on success it replaces `out` in one rename.

    On any failure (an exception, Ctrl-C) the staging directory is removed, so no directory that
    looks complete is left and an existing `out` is untouched.
    """
    out = Path(out)
    check_output_dir(out, force, what)
    parent = out.resolve().parent
    parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=parent))
    os.chmod(stage, 0o777 & ~_umask())  # mkdtemp makes 0700
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
