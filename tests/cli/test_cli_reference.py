"""docs/reference/cli.md is what edge_forecast.cli_reference renders from the click commands."""

from __future__ import annotations

from pathlib import Path

from edge_forecast import cli_reference
from edge_forecast.cli import cli

ROOT = Path(__file__).resolve().parents[2]


def test_the_committed_cli_reference_is_current():
    committed = (ROOT / cli_reference.DEFAULT_PATH).read_text(encoding="utf-8")
    assert committed == cli_reference.render(), (
        f"{cli_reference.DEFAULT_PATH} is stale: run {cli_reference.COMMAND}")


def test_every_visible_option_is_in_the_reference():
    text = cli_reference.render()
    for name, command in cli.commands.items():
        assert f"## edge-forecast {name}" in text
        for param in command.params:
            for opt in getattr(param, "opts", []):
                if opt.startswith("--"):
                    shown = f"`{opt}`" in text
                    assert shown != bool(getattr(param, "hidden", False)), (name, opt)
