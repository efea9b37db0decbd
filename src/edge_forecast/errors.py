"""The one exception type that the CLI turns into a one-line message and exit code 2."""


class UserError(Exception):
    """Bad input from the user: a path, a value, an option combination, a corrupt file.

    The message is shown as is, on one line, so it must name what is wrong and the valid choices.
    """


def parse_choices(texts, choices: type, what: str) -> list:
    """Comma-separated (and repeated) names -> members of the str Enum `choices`, in order,
    repeats dropped; an unknown name is a UserError listing the valid ones."""
    found: list = []
    for text in texts:
        for name in str(text).split(","):
            name = name.strip().lower()
            if not name:
                continue
            try:
                member = choices(name)
            except ValueError:
                raise choice_error(what, name, [c.value for c in choices]) from None
            if member not in found:
                found.append(member)
    return found


def choice_error(what: str, value: object, valid: list[str] | tuple[str, ...]) -> UserError:
    """An error for a value outside a fixed set, listing the valid ones."""
    return UserError(f"unknown {what} {value!r}; valid: {', '.join(valid)}")
