"""The one exception type that the CLI turns into a one-line message and exit code 2."""


class UserError(Exception):
    """Bad input from the user: a path, a value, an option combination, a corrupt file.

    The message is shown as is, on one line, so it must name what is wrong and the valid choices.
    """


def parse_choices(texts, choices, what: str, alone: tuple[str, ...] = ()) -> list:
    """Comma-separated (and repeated) names -> members of the str Enum `choices` (or names from a
    sequence of str), in order, repeats dropped, case ignored. An unknown name, or a name of
    `alone` (such as "all") with others, is a UserError listing the valid ones. The one parser of
    comma-separated choices: the library's and, through cli.CommaChoices, the command line's."""
    enum = isinstance(choices, type)
    valid = [c.value for c in choices] if enum else [str(c) for c in choices]
    found: list = []
    for text in texts:
        for name in str(text).split(","):
            name = name.strip().lower()
            if not name:
                continue
            if name not in valid:
                raise choice_error(what, name, valid)
            member = choices(name) if enum else name
            if member not in found:
                found.append(member)
    lone = [n for n in alone if n in [getattr(m, "value", m) for m in found]]
    if lone and len(found) > 1:
        raise UserError(f"{lone[0]!r} cannot be combined with another {what}; valid: {', '.join(valid)}")
    return found


def choice_error(what: str, value: object, valid: list[str] | tuple[str, ...]) -> UserError:
    """An error for a value outside a fixed set, listing the valid ones."""
    return UserError(f"unknown {what} {value!r}; valid: {', '.join(valid)}")
