"""Turn a name, ``module:Class`` path, class or instance into an object (no global state)."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

from traffic_lam.errors import ConfigError


def build(spec: Any, builtins: Mapping[str, type], kind: str, required: tuple[str, ...]) -> Any:
    """Instantiate ``spec`` as a ``kind`` (observation, reward ...).

    Args:
        spec: a built-in name, ``"package.module:Name"``, a class (instantiated with
            no arguments) or a ready object.
        builtins: the read-only table of built-in names.
        kind: what is being built, for error messages.
        required: attribute names the result must have.

    Raises:
        ConfigError: the name is unknown or the result lacks a required attribute.

    """
    obj = spec
    if isinstance(spec, str):
        if spec in builtins:
            obj = builtins[spec]
        elif ":" in spec:
            obj = import_object(spec, kind)
        else:
            raise ConfigError(f"unknown {kind} '{spec}': expected one of {', '.join(builtins)} or 'module:Class'")
    if isinstance(obj, type):
        obj = obj()
    missing = [name for name in required if not hasattr(obj, name)]
    if missing:
        raise ConfigError(f"{kind} {spec!r}: has no '{missing[0]}' (expected {', '.join(required)})")
    return obj


def import_object(path: str, kind: str, error: type[Exception] = ConfigError) -> Any:
    """The object named by ``"package.module:name"``.

    Raises:
        error: (``ConfigError`` by default) one line naming ``path`` when it cannot be imported.
    """
    module_name, _, attr = path.partition(":")
    try:
        return getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise error(f"{kind} '{path}': cannot import ({exc})") from None
