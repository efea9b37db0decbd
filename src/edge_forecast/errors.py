"""The one exception type that the CLI turns into a one-line message and exit code 2."""


class UserError(Exception):
    """Bad input from the user: a path, a value, an option combination, a corrupt file.

    The message is shown as is, on one line, so it must name what is wrong and the valid choices.
    """


def choice_error(what: str, value: object, valid: list[str] | tuple[str, ...]) -> UserError:
    """An error for a value outside a fixed set, listing the valid ones."""
    return UserError(f"unknown {what} {value!r}; valid: {', '.join(valid)}")
