"""Turn a name, ``module:Class`` path, class or instance into an object (no global state)."""

from __future__ import annotations

import functools
import importlib
import inspect
from collections.abc import Mapping
from typing import Any

from traffic_lam.errors import ConfigError


def build(spec: Any, builtins: Mapping[str, type], kind: str, required: tuple[str, ...]) -> Any:
    """Instantiate ``spec`` as a ``kind`` (observation, reward ...).

    Args:
        spec: a built-in name, ``"package.module:Name"``, a class (instantiated with
            no arguments), a ready object, or a mapping ``{"name": <name or path>,
            "args": {...}}`` whose ``args`` go to the class's constructor (or, for a
            function, are bound to it with :func:`functools.partial`).
        builtins: the read-only table of built-in names.
        kind: what is being built, for error messages.
        required: attribute names the result must have.

    Raises:
        ConfigError: the name is unknown, an argument is not accepted, or the result
            lacks a required attribute.

    """
    name, args = split_spec(spec, kind)
    obj = name
    if isinstance(name, str):
        if name in builtins:
            obj = builtins[name]
        elif ":" in name:
            obj = import_object(name, kind)
        else:
            raise ConfigError(f"unknown {kind} '{name}': expected one of {', '.join(builtins)} or 'module:Class'")
    obj = _with_args(obj, args, kind, name)
    missing = [attr for attr in required if not hasattr(obj, attr)]
    if missing:
        raise ConfigError(f"{kind} {spec!r}: has no '{missing[0]}' (expected {', '.join(required)})")
    return obj


def split_spec(spec: Any, kind: str) -> tuple[Any, dict[str, Any]]:
    """``(name, args)`` of a spec: a mapping ``{"name": ..., "args": {...}}`` or anything else (no args).

    Raises:
        ConfigError: a mapping with other keys, without a name, or with args that are not a mapping.
    """
    if not isinstance(spec, Mapping):
        return spec, {}
    unknown = sorted(set(spec) - {"name", "args"})
    if unknown:
        raise ConfigError(f"{kind}: unknown key '{unknown[0]}', expected one of args, name")
    if "name" not in spec:
        raise ConfigError(f"{kind}: missing key 'name' (a built-in name or 'module:Class')")
    args = spec.get("args") or {}
    if not isinstance(args, Mapping):
        raise ConfigError(f"{kind}.args: expected a mapping of keys, got {type(args).__name__}")
    return spec["name"], dict(args)


def _with_args(obj: Any, args: dict[str, Any], kind: str, name: Any) -> Any:
    """A class instantiated with ``args``; a function with ``args`` bound; anything else as is (no args)."""
    if not isinstance(obj, type) and not args:
        return obj
    if not callable(obj) or not (isinstance(obj, type) or inspect.isfunction(obj)):
        raise ConfigError(f"{kind} {name!r}: a ready object takes no args, got {sorted(args)}")
    parameters = inspect.signature(obj).parameters
    open_ended = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    valid = [n for n, p in parameters.items() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    if not isinstance(obj, type):
        valid = valid[1:]  # a function's first parameter is the signal
    unknown = [key for key in args if key not in valid]
    if unknown and not open_ended:
        raise ConfigError(f"{kind} '{name}': unknown argument '{unknown[0]}' (valid: {', '.join(valid) or 'none'})")
    return obj(**args) if isinstance(obj, type) else functools.partial(obj, **args)


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
