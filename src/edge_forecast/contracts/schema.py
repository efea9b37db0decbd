"""One way to read and write a contract: a frozen dataclass <-> a JSON object (stdlib only).

A field's type says what the JSON holds (int, float, str, bool, a str Enum (its value), `X | None`,
`list[X]`, `dict[str, X]`, a bare `dict` for a part another module owns, or another contract); `checked`
adds a rule the type cannot say. A value that breaks either is a `ContractError` naming the
field by its dotted path (`models.rnn.units`), which each reader turns into its one-line error.
Unknown keys are ignored: a newer writer may add fields.
"""

from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


class ContractError(ValueError):
    """`field` (a dotted path) does not hold what the contract says: `expected`."""

    def __init__(self, field: str, expected: str) -> None:
        self.field, self.expected = field, expected
        super().__init__(f"{field} {expected}")


def checked(rule: Callable[[Any], bool], expected: str, default: Any = dataclasses.MISSING) -> Any:
    """A field whose value must also satisfy `rule`; `expected` completes "<field> ..."."""
    return dataclasses.field(default=default, metadata={"rule": rule, "expected": expected})


# a field's "omit" metadata: never left out of the JSON (written as null when None)
_NEVER = object()


def nullable() -> Any:
    """An optional field (default None) that the JSON always holds: null says "none" in so many words."""
    return dataclasses.field(default=None, metadata={"omit": _NEVER})


def omitted_at(default: Any) -> Any:
    """A field left out of the JSON while it holds `default` (its writers name it only when set)."""
    return dataclasses.field(default=default, metadata={"omit": default})


def with_extras(typed: dict, extras: dict) -> dict:
    """A contract's JSON (`to_dict`) with the fields only people read (histories, plots' data...)
    added, object by object. A key in both must be an object in both: the typed value is the one
    the readers see, so a people-only copy of it could only drift."""
    merged = dict(typed)
    for key, value in extras.items():
        if key not in merged:
            merged[key] = value
        elif isinstance(merged[key], dict) and isinstance(value, dict):
            merged[key] = with_extras(merged[key], value)
        else:
            raise ValueError(f"{key} is written by the contract; it cannot be an extra too")
    return merged


def positive(value: int) -> bool:
    return value >= 1


def file_name(value: str) -> bool:
    return "/" not in value


def finite(value: float) -> bool:
    return math.isfinite(value)


class Contract:
    """The generic reader and writer every contract dataclass inherits."""

    @classmethod
    def from_dict(cls: type[T], data: Any, where: str = "") -> T:
        return _read_object(cls, data, where)

    def to_dict(self) -> dict:
        return _write(self)

    @classmethod
    def from_json(cls: type[T], text: str) -> T:
        return cls.from_dict(json.loads(text))

    def to_json(self) -> str:
        return json.dumps(self.to_dict())


def _join(where: str, name: str) -> str:
    return f"{where}.{name}" if where else name


def _read_object(cls: type, data: Any, where: str):
    if not isinstance(data, dict):
        raise ContractError(where or cls.__name__, "must be an object")
    hints = typing.get_type_hints(cls)
    values = {}
    for f in dataclasses.fields(cls):
        path = _join(where, f.name)
        if f.name not in data:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ContractError(path, "is missing")
            continue
        try:
            value = _read(hints[f.name], data[f.name], path)
        except ContractError as exc:  # a checked field says what it must be in its own words
            if exc.field == path and "expected" in f.metadata:
                raise ContractError(path, f.metadata["expected"]) from None
            raise
        rule = f.metadata.get("rule")
        if rule is not None and value is not None and not rule(value):
            raise ContractError(path, f.metadata["expected"])
        values[f.name] = value
    try:
        return cls(**values)
    except ContractError as exc:  # a rule across fields (__post_init__), named from this object
        raise ContractError(_join(where, exc.field), exc.expected) from None


def _read(kind: Any, value: Any, path: str):
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _read(inner, value, path)
    if dataclasses.is_dataclass(kind):
        return _read_object(kind, value, path)
    if origin is list:
        if not isinstance(value, list):
            raise ContractError(path, "must be a list")
        return [_read(args[0], v, f"{path}[{i}]") for i, v in enumerate(value)]
    if origin is dict or kind is dict:
        if not isinstance(value, dict):
            raise ContractError(path, "must be an object")
        return {k: _read(args[1], v, _join(path, k)) for k, v in value.items()} if args else dict(value)
    if kind is Any:
        return value
    if isinstance(kind, type) and issubclass(kind, Enum):
        try:
            return kind(value)
        except ValueError:
            raise ContractError(path, f"must be one of {', '.join(str(m.value) for m in kind)}") from None
    if kind is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ContractError(path, "must be a number")
        return float(value)
    if kind is int and isinstance(value, bool):
        raise ContractError(path, "must be an integer")
    if kind is Path:
        if not isinstance(value, str):
            raise ContractError(path, "must be a path")
        return Path(value)
    if not isinstance(value, kind):
        raise ContractError(path, {int: "must be an integer", str: "must be a string",
                                   bool: "must be true or false"}.get(kind, f"must be {kind.__name__}"))
    return value


def _omitted(f: dataclasses.Field, value: Any) -> bool:
    # an optional field left at None is left out, as the writers of these files leave it out,
    # unless the field says otherwise (nullable, omitted_at)
    omit = f.metadata.get("omit", None if f.default is None else _NEVER)
    return value is None if omit is None else (omit is not _NEVER and value == omit)


def _write(value: Any):
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _write(getattr(value, f.name)) for f in dataclasses.fields(value)
                if not _omitted(f, getattr(value, f.name))}
    if isinstance(value, (list, tuple)):
        return [_write(v) for v in value]
    if isinstance(value, dict):
        return {k: _write(v) for k, v in value.items()}
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, Enum):
        return value.value
    return value
