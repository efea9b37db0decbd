"""The exception types that the CLI turns into a one-line message and an exit code."""


class UserError(Exception):
    """Bad input from the user: a path, a value, an option combination, a corrupt file.

    The message is shown as is, on one line, so it must name what is wrong and the valid choices.
    `argument` is the Python API's name of the value at fault (edge_forecast.api: `quant`,
    `batch_size`); the message then begins with that name (it is prefixed when it does not), so the
    CLI can show its own flag instead (`naming("--batch-size")`): one translation, not one message
    per caller.
    """

    def __init__(self, message: str = "", argument: str | None = None) -> None:
        if argument and not _begins_with(message, argument):
            message = f"{argument}: {message}"
        super().__init__(message)
        self.argument = argument

    def naming(self, name: str) -> str:
        """The message with the argument called `name` (the CLI passes its --flag)."""
        text = str(self)
        if self.argument and _begins_with(text, self.argument):
            return name + text[len(self.argument):]
        return text


class FailedItems(Exception):
    """Some items of a job (artifacts, variants) failed while the others were written: the CLI lists
    them on stderr and exits 1. `path` is the directory that holds what succeeded."""

    def __init__(self, what: str, failures: list[str], path=None) -> None:
        super().__init__(f"{len(failures)} {what} failed: " + "; ".join(failures))
        self.what, self.failures, self.path = what, list(failures), path


def _begins_with(message: str, argument: str) -> bool:
    rest = message[len(argument):]
    return message.startswith(argument) and (not rest or rest[0] in " :,;")


def parse_choices(texts, choices, what: str, alone: tuple[str, ...] = (),
                  argument: str | None = None) -> list:
    """Comma-separated (and repeated) names -> members of the str Enum `choices` (or names from a
    sequence of str), in order, repeats dropped, case ignored. An unknown name, or a name of
    `alone` (such as "all") with others, is a UserError listing the valid ones (about `argument`,
    when given). The one parser of comma-separated choices: the library's and, through
    cli.CommaChoices, the command line's."""
    enum = isinstance(choices, type)
    valid = [c.value for c in choices] if enum else [str(c) for c in choices]
    found: list = []
    for text in texts:
        for name in str(text).split(","):
            name = name.strip().lower()
            if not name:
                continue
            if name not in valid:
                raise choice_error(what, name, valid, argument)
            member = choices(name) if enum else name
            if member not in found:
                found.append(member)
    lone = [n for n in alone if n in [getattr(m, "value", m) for m in found]]
    if lone and len(found) > 1:
        raise UserError(f"{lone[0]!r} cannot be combined with another {what}; "
                        f"valid: {', '.join(valid)}", argument)
    return found


def choice_error(what: str, value: object, valid: list[str] | tuple[str, ...],
                 argument: str | None = None) -> UserError:
    """An error for a value outside a fixed set, listing the valid ones."""
    return UserError(f"unknown {what} {value!r}; valid: {', '.join(valid)}", argument)
