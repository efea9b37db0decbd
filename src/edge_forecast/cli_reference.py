"""The CLI reference, docs/reference/cli.md, generated from the click commands.

    python -m edge_forecast.cli_reference         # from the repository root: docs/reference/cli.md
    python -m edge_forecast.cli_reference OUT.md  # elsewhere

tests/cli/test_cli_reference.py fails when the committed file differs from what this renders.
Every command: its usage, help and options (type, choices, default, help); hidden options (the
deprecated names) are left out.
"""

from __future__ import annotations

import inspect
import re
import sys
from pathlib import Path

import click

from edge_forecast.cli import CommaChoices, FractionOrCount, cli

PROG = "edge-forecast"
DEFAULT_PATH = Path("docs/reference/cli.md")
COMMAND = "python -m edge_forecast.cli_reference"
_DEFAULT_IN_HELP = re.compile(r"\s*\[default: (.*)\]\s*$", re.DOTALL)


def render() -> str:
    """The whole reference as Markdown (independent of the terminal and of click's formatting)."""
    lines = ["# Command-line reference", "",
             f"Generated from the click commands by `{COMMAND}`;",
             "`tests/cli/test_cli_reference.py` fails when this file is stale. Every option of train,",
             "export, bench and demo is also a keyword of the Python API function of the same name",
             "(`edge_forecast.train`, ...) with underscores for hyphens; `train --model` is",
             "`models=`.",
             ""]
    lines += [f"- [`{PROG} {name}`](#{PROG}-{name}): {command.get_short_help_str(limit=200)}"
              for name, command in cli.commands.items() if not command.hidden]
    lines += [""] + _command(cli, PROG, top=True)
    for name, command in cli.commands.items():
        if not command.hidden:
            lines += _command(command, f"{PROG} {name}")
    return "\n".join(lines).rstrip("\n") + "\n"


def _command(command: click.Command, path: str, top: bool = False) -> list[str]:
    ctx = click.Context(command, info_name=path)
    pieces = command.collect_usage_pieces(ctx)
    lines = ["", f"## {path}" if not top else f"## {path} (the group)", "",
             "```", f"{path} {' '.join(pieces)}".rstrip(), "```", ""]
    lines += [_paragraphs(command.help or ""), ""]
    arguments = [p for p in command.params if isinstance(p, click.Argument)]
    for argument in arguments:
        lines.append(f"Argument `{argument.human_readable_name}`"
                     + (" (required)." if argument.required else "."))
    if arguments:
        lines.append("")
    options = [p for p in command.params if isinstance(p, click.Option) and not p.hidden]
    if options:
        lines += ["| Option | Type | Default | Description |", "| --- | --- | --- | --- |"]
        lines += [_row(option, ctx) for option in options]
    return lines


def _row(option: click.Option, ctx: click.Context) -> str:
    names = " / ".join(f"`{o}`" for o in [*option.opts, *option.secondary_opts])
    description, default = _help_and_default(option, ctx)
    if option.required:
        default = "required"
    cells = [names, _type(option), default, description]
    return "| " + " | ".join(c.replace("|", "\\|").replace("\n", " ") for c in cells) + " |"


def _help_and_default(option: click.Option, ctx: click.Context) -> tuple[str, str]:
    """The help without its "[default: ...]" note, and the default: the option's own, else the
    note's words (a default that depends on other options), else none."""
    text = " ".join((option.help or "").split())
    note = _DEFAULT_IN_HELP.search(text)
    if note:
        text = text[: note.start()].rstrip()
    value = option.get_default(ctx, call=False)
    if option.is_flag and not option.secondary_opts and value in (False, None):
        value = None
    if option.secondary_opts and isinstance(value, bool):  # --x / --no-x: the one in effect
        value = max(option.opts if value else option.secondary_opts, key=len)
    if _given(value):
        return text, f"`{value}`"
    return text, note.group(1) if note else ""


def _given(value) -> bool:
    """Whether an option's default is a value (not None, (), or click 8.3's UNSET sentinel)."""
    return value not in (None, ()) and getattr(value, "name", None) != "UNSET"


def _type(option: click.Option) -> str:
    kind = option.type
    if option.is_flag:
        text = "flag"
    elif isinstance(kind, click.Choice):
        text = "one of " + ", ".join(f"`{c}`" for c in kind.choices)
    elif isinstance(kind, CommaChoices):
        text = "comma-separated " + ", ".join(f"`{c}`" for c in kind.valid)
    elif isinstance(kind, FractionOrCount):
        text = "fraction in [0, 1) or count"
    elif isinstance(kind, (click.IntRange, click.FloatRange)):
        text = ("integer" if isinstance(kind, click.IntRange) else "number") + _range(kind)
    elif isinstance(kind, click.Path):
        text = "path"
    else:
        text = {"integer": "integer", "float": "number", "text": "text"}.get(kind.name, kind.name)
    return text + (", repeatable" if option.multiple else "")


def _range(kind: click.IntRange | click.FloatRange) -> str:
    low = None if kind.min is None else ("> " if kind.min_open else ">= ") + f"{kind.min:,}"
    high = None if kind.max is None else ("< " if kind.max_open else "<= ") + f"{kind.max:,}"
    bounds = [b for b in (low, high) if b]
    return f" ({', '.join(bounds)})" if bounds else ""


def _paragraphs(text: str) -> str:
    """A docstring's paragraphs, each on one line (click's \\b markers dropped)."""
    blocks = re.split(r"\n\s*\n", inspect.cleandoc(text))
    return "\n\n".join(" ".join(b.replace("\b", "").split()) for b in blocks if b.strip())


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    path = Path(args[0]) if args else DEFAULT_PATH
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(), encoding="utf-8")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
