"""Atomic outputs: nothing half-written is ever left under a final name (stdlib only)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import secrets
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from edge_forecast.errors import UserError


def _unique(parent: Path, prefix: str, suffix: str, create: Callable[[str], Any]):
    """Create a new sibling with a random name; `create` gets the path and must fail if it exists.

    Files and directories are created with modes 0o666 / 0o777, which the kernel narrows by the
    umask: outputs are shared with device users as the user's umask allows, and the process-wide
    umask is never changed to read it (tempfile's mkstemp / mkdtemp make 0600 / 0700)."""
    for _ in range(100):
        path = Path(parent) / f"{prefix}{secrets.token_hex(6)}{suffix}"
        try:
            return path, create(str(path))
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name in {parent}")  # pragma: no cover - 100 collisions of 48 bits


def fsync_dir(path: Path) -> None:
    """Make a directory's entries (a rename, a new file) durable: a power cut on a device's SD card
    must not lose them. A no-op where directories cannot be opened (Windows)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:  # pragma: no cover - platforms without directory handles
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_tree(root: Path) -> None:
    """fsync every file and directory under `root` (files written by numpy, Keras, matplotlib)."""
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            fd = os.open(os.path.join(dirpath, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        fsync_dir(Path(dirpath))


def write_text_atomic(path: Path, text: str) -> None:
    """Write a file through a temporary sibling, fsync and a rename, then fsync the directory (a
    power cut on a device's SD card must not leave an empty bundle.json)."""
    path = Path(path)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    tmp, fd = _unique(path.parent, f".{path.name}.", ".tmp", lambda p: os.open(p, flags, 0o666))
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)


def write_json_atomic(path: Path, data: Any) -> None:
    """Strict JSON: NaN and inf are not JSON, so a non-finite number is a bug (write null)."""
    write_text_atomic(path, json.dumps(data, indent=2, sort_keys=False, allow_nan=False) + "\n")


def non_finite_field(data: Any, where: str = "") -> str | None:
    """The dotted path of the first NaN or inf number in `data` (dicts and lists), or None."""
    if isinstance(data, float):
        return None if math.isfinite(data) else where
    items = data.items() if isinstance(data, dict) else enumerate(data) if isinstance(data, list) else ()
    for key, value in items:
        found = non_finite_field(value, f"{where}.{key}" if where else str(key))
        if found is not None:
            return found
    return None


def read_json(path: Path, damaged: str = "") -> Any:
    """The JSON document at `path`; unreadable or invalid JSON is a one-line UserError (`damaged`
    is appended to the invalid-JSON message, e.g. "the bundle is corrupt")."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UserError(f"{path} is not valid JSON ({exc})" + (f"; {damaged}" if damaged else "")) from None
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror}") from None


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
    _check_creatable(out, what)


def _check_creatable(out: Path, what: str) -> None:
    """Refuse, before any work, an --out whose directory cannot be made: a parent that is a file,
    read-only or not a real file system (/proc). A probe directory is made and removed in the
    nearest existing parent (permission bits say nothing for root); this used to end in an
    OSError traceback, for bench and export after all their measuring."""
    ancestor = out.resolve().parent
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise UserError(f"cannot create {what} directory {out}: {ancestor} is a file; choose another --out")
    try:
        probe, _ = _unique(ancestor, ".edge-forecast-probe-", "", lambda p: os.mkdir(p, 0o700))
        os.rmdir(probe)
    except OSError as exc:
        raise UserError(f"cannot create {what} directory {out}: {exc.strerror} in {ancestor}; "
                        "choose another --out") from None


@contextlib.contextmanager
def staged_dir(out: Path, force: bool, what: str) -> Iterator[Path]:
    """Yield a temporary sibling directory; on success it replaces `out` in one rename.

    On any failure (an exception, Ctrl-C) the staging directory is removed, so no directory that
    looks complete is left and an existing `out` is untouched. An `out` that appeared while the
    work ran (another process) is refused without `force` (UserError) and left as it is. The
    staged files and the directories are fsynced before and after the rename.
    """
    out = Path(out)
    check_output_dir(out, force, what)
    parent = out.resolve().parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        stage, _ = _unique(parent, f".{out.name}.partial-", "", lambda p: os.mkdir(p, 0o777))
    except OSError as exc:  # the checks above passed, then the file system changed (or said no)
        raise UserError(f"cannot create {what} directory {out}: {exc.strerror}; choose another --out") from None
    try:
        yield stage
        _fsync_tree(stage)
        if out.exists() and not force:
            raise UserError(f"{what} directory {out} appeared while this ran; pass --force to replace it")
        if out.exists():
            old, _ = _unique(parent, f".{out.name}.old-", "", lambda p: os.mkdir(p, 0o700))
            os.replace(out, old / "x")
            os.replace(stage, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            try:  # a directory that appears between the check and here: rename refuses a non-empty one
                os.rename(stage, out)
            except OSError:
                raise UserError(f"{what} directory {out} appeared while this ran; pass --force to replace it") from None
        fsync_dir(parent)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
