"""Atomic outputs: the --force replace path, a directory that appears during the run, modes from
the umask without changing it, and nothing left behind (stdlib only, no training)."""

from __future__ import annotations

import os
import stat

import pytest

from edge_forecast import fsio
from edge_forecast.errors import UserError


def _siblings(path):
    return sorted(p.name for p in path.parent.iterdir() if p.name != path.name)


def test_force_replaces_an_existing_directory_in_one_rename(tmp_path):
    out = tmp_path / "bundle"
    out.mkdir()
    (out / "old.txt").write_text("old")
    with pytest.raises(UserError, match="already exists; pass --force"), fsio.staged_dir(out, False, "bundle"):
        pass
    with fsio.staged_dir(out, True, "bundle") as stage:
        assert stage.parent == tmp_path and stage.name.startswith(".bundle.partial-")
        fsio.write_text_atomic(stage / "new.txt", "new")
        assert (out / "old.txt").read_text() == "old"  # untouched until the work is done
    assert sorted(p.name for p in out.iterdir()) == ["new.txt"]
    assert _siblings(out) == []  # no staging or .old directory left


def test_a_directory_that_appears_during_the_run_is_refused_without_force(tmp_path):
    out = tmp_path / "run"
    with pytest.raises(UserError, match="appeared while this ran; pass --force"), \
            fsio.staged_dir(out, False, "run") as stage:
        (stage / "model.keras").write_text("ours")
        out.mkdir()
        (out / "theirs.txt").write_text("theirs")
    assert sorted(p.name for p in out.iterdir()) == ["theirs.txt"]
    assert _siblings(out) == []
    with fsio.staged_dir(out, True, "run") as stage:  # with --force it is replaced
        (stage / "model.keras").write_text("ours")
    assert sorted(p.name for p in out.iterdir()) == ["model.keras"]


def test_a_failure_leaves_nothing_and_the_old_directory_intact(tmp_path):
    out = tmp_path / "report"
    out.mkdir()
    (out / "keep.txt").write_text("keep")
    with pytest.raises(RuntimeError), fsio.staged_dir(out, True, "report") as stage:
        (stage / "half.txt").write_text("half")
        raise RuntimeError("boom")
    assert [p.name for p in out.iterdir()] == ["keep.txt"] and _siblings(out) == []


def test_modes_follow_the_umask_which_is_never_changed(tmp_path, monkeypatch):
    old = os.umask(0o027)
    try:
        def refuse(mask):
            raise AssertionError("os.umask called: the process-wide umask must not change")

        monkeypatch.setattr(os, "umask", refuse)
        out = tmp_path / "out"
        with fsio.staged_dir(out, False, "out") as stage:
            fsio.write_json_atomic(stage / "doc.json", {"a": 1})
        assert stat.S_IMODE(out.stat().st_mode) == 0o750
        assert stat.S_IMODE((out / "doc.json").stat().st_mode) == 0o640
    finally:
        monkeypatch.undo()
        os.umask(old)
