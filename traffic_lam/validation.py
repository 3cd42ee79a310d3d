"""What the configuration models share: a frozen :class:`Section` base, checked field types, one-line errors.

pydantic validates; :func:`one_line` turns the first error of a ``ValidationError`` into
the house's message, ``<file>: <key>: expected <what>, got <value>`` (keys joined with
dots, ``[i]`` for list items). The field types here (:func:`whole`, :func:`number`,
:data:`Text`, :data:`Flag`) reject what YAML might slip in: booleans as numbers,
``.inf`` / ``.nan``, strings as numbers.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Annotated, Any

import numpy as np
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator
from pydantic_core import PydanticCustomError

from traffic_lam.errors import ConfigError

_EXPECTED = {
    "int_type": "an integer", "int_parsing": "an integer", "int_from_float": "an integer",
    "float_type": "a number", "float_parsing": "a number", "finite_number": "a finite number",
    "bool_type": "true or false", "bool_parsing": "true or false", "string_type": "a string",
    "dict_type": "a mapping of keys", "model_type": "a mapping of keys", "dataclass_type": "a mapping of keys",
    "model_attributes_type": "a mapping of keys", "list_type": "a list", "tuple_type": "a list",
    "too_short": "a non-empty list", "path_type": "a path", "none_required": "null",
}  # fmt: skip
"""pydantic's error types in our words (``expected ...``)."""

_BOUNDS = {"greater_than": ">", "greater_than_equal": ">=", "less_than": "<", "less_than_equal": "<="}


def invalid(message: str, at: str = "") -> PydanticCustomError:
    """A validation error with our own message.

    Args:
        message: the whole message after the key (``expected ..., got ...``).
        at: key path to append to the error's location (``".yellow_time"``), for
            errors raised by a model validator about one of its fields.
    """
    return PydanticCustomError("invalid", "{message}", {"message": message, "at": at})


def got(value: Any) -> str:
    """A short, one-line ``repr`` of an offending value."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def dotted(loc: tuple[int | str, ...]) -> str:
    """``("controllers", 0, "args")`` -> ``"controllers[0].args"``."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text.lstrip(".")


def describe(error: Mapping[str, Any]) -> tuple[str, str]:
    """One pydantic error (an item of ``ValidationError.errors()``) as ``(key, message)``."""
    ctx = error.get("ctx") or {}
    key = (dotted(tuple(error["loc"])) + ctx.get("at", "")).lstrip(".")
    kind, value = error["type"], error.get("input")
    if kind == "unknown_key":
        return "", f"unknown key '{key + '.' if key else ''}{ctx['key']}', expected one of {ctx['valid']}"
    if kind == "invalid":
        return key, ctx["message"]
    if kind == "missing":
        return "", f"missing key '{key}'"
    if kind == "literal_error":
        return key, f"expected one of {ctx['expected']}, got {got(value)}"
    if kind in _BOUNDS:
        bound = next(v for k, v in ctx.items() if k in ("gt", "ge", "lt", "le"))
        return key, f"expected a number {_BOUNDS[kind]} {bound}, got {got(value)}"
    if kind in _EXPECTED:
        shown = type(value).__name__ if kind.startswith(("dict", "model", "dataclass")) else got(value)
        return key, f"expected {_EXPECTED[kind]}, got {shown}"
    return key, f"{error['msg'][:1].lower()}{error['msg'][1:]}, got {got(value)}"


def one_line(error: ValidationError, where: str | None = None) -> str:
    """The first error of ``error`` as one line: ``<where>: <key>: <message>``."""
    key, message = describe(error.errors(include_url=False)[0])
    return ": ".join(part for part in (where, key, message) if part)


def check_whole(value: Any, minimum: int, unit: str = "") -> int:
    """``value`` as an int when it is a whole number ``>= minimum`` (``5.0`` counts), else a validation error.

    Args:
        value: what the file holds.
        minimum: the smallest value allowed.
        unit: text after the expectation, e.g. ``" (a whole number of seconds)"``.
    """
    if not _whole(value, floats=True) or value < minimum:
        raise invalid(f"expected an integer >= {minimum}{unit}, got {got(value)}")
    return int(value)


def _whole(value: Any, *, floats: bool) -> bool:
    """Whether ``value`` is an integer (numpy's too, never a boolean), or, with ``floats``, a whole finite float."""
    if isinstance(value, bool):
        return False
    if isinstance(value, (int, np.integer)):
        return True
    return floats and isinstance(value, float) and math.isfinite(value) and value.is_integer()


def require_int(name: str, value: Any, minimum: int, *, whole_floats: bool = False) -> int:
    """``value`` as an int when it is an integer ``>= minimum``, else a one-line :class:`ConfigError`.

    For arguments checked outside a configuration model (a function's keyword, a dataclass
    field); booleans are refused, numpy integers accepted.

    Args:
        name: the setting as the user spells it, e.g. ``"warm_start.episodes"``.
        value: what was given.
        minimum: the smallest value allowed.
        whole_floats: also accept a finite float without a fraction (``5.0``).

    Raises:
        ConfigError: ``<name>: expected an integer >= <minimum>, got <value>``.
    """
    if not _whole(value, floats=whole_floats) or value < minimum:
        raise ConfigError(f"{name}: expected an integer >= {minimum}, got {got(value)}")
    return int(value)


def whole(minimum: int, unit: str = "") -> Any:
    """An integer field ``>= minimum`` (see :func:`check_whole`)."""
    return Annotated[int, Field(ge=minimum), BeforeValidator(lambda value: check_whole(value, minimum, unit))]


def number(minimum: float | None = None) -> Any:
    """A finite number field (``>= minimum`` when given); booleans, ``.inf`` and ``.nan`` are refused."""
    bound = "" if minimum is None else f" >= {minimum:g}"

    def check(value: Any) -> float:
        ok = not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)
        if not ok or (minimum is not None and value < minimum):
            raise invalid(f"expected a finite number{bound}, got {got(value)}")
        return float(value)

    return Annotated[float, Field(ge=minimum), BeforeValidator(check)]


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise invalid(f"expected a string, got {got(value)}")
    return value


def _flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise invalid(f"expected true or false, got {got(value)}")
    return value


Text = Annotated[str, BeforeValidator(_text)]
"""A string field (numbers are not turned into strings)."""

Flag = Annotated[bool, BeforeValidator(_flag)]
"""A ``true`` / ``false`` field (no ``1``, ``"yes"``)."""


class Section(BaseModel):
    """A frozen configuration model: unknown keys refused by name, missing ones with a hint.

    ``None`` (an empty YAML section) reads as ``{}``. Built in code, it takes its fields
    positionally too, and a bad value raises :class:`~traffic_lam.errors.ConfigError`
    (one line) instead of pydantic's ``ValidationError``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    def __init__(self, *args: Any, **data: Any) -> None:
        names = list(type(self).model_fields)
        if len(args) > len(names):
            raise TypeError(f"{type(self).__name__} takes at most {len(names)} positional arguments")
        data.update(zip(names, args, strict=False))
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise ConfigError(one_line(exc)) from None

    # pydantic validates nested sections without calling this __init__ (errors keep their location)
    __init__.__pydantic_base_init__ = True  # type: ignore[attr-defined]

    @classmethod
    def _prepare(cls, data: Any) -> Any:
        """Hook: rewrite the raw value before it is checked (a shorthand into a mapping ...)."""
        return data

    @model_validator(mode="before")
    @classmethod
    def _known_keys(cls, data: Any) -> Any:
        data = cls._prepare({} if data is None else data)
        if not isinstance(data, Mapping):
            return data
        fields = cls.model_fields
        for key in data:
            if key not in fields:
                valid = ", ".join(sorted(fields))
                raise PydanticCustomError("unknown_key", "unknown key {key}", {"key": key, "valid": valid})
        for name, info in fields.items():
            if info.is_required() and name not in data:
                hint = f" ({info.description})" if info.description else ""
                raise invalid(f"missing key '{name}'{hint}")
        return data
