"""The fingerprint of a run: what produced a run folder's results, as canonical JSON.

A fingerprint holds

* ``scenario``: the validated scenario after defaults: the environment options
  (``timing`` with ``begin`` / ``end``, observation, reward, backend, SUMO options ...),
  every controller with its arguments after defaults (and, for learners, its training
  budget), and the evaluation section;
* ``network``: the network's name and each of its files (net, routes, additional files,
  and the ``.sumocfg`` or ``network.yaml`` naming them) with its SHA-256;
* ``traffic_lam`` and ``sumo``: the versions that ran.

Scenario names, descriptions and absolute paths are left out: a project moved to another
folder keeps its fingerprints. :func:`changes` tells, in one line, what differs between two.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import subprocess
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from traffic_lam.env.config import EnvConfig
    from traffic_lam.experiments.scenario import ControllerSpec, Scenario

FORMAT = 1
"""Version of the fingerprint's layout."""

_SECTIONS = {
    "scenario": "the scenario",
    "network": "the network files",
    "traffic_lam": "the traffic_lam version",
    "sumo": "the SUMO version",
}
_ENV_OWN_KEYS = ("network", "timing", "begin_time", "end_time")
_SHOWN = 4
"""Changes listed in a message (the rest are counted)."""


def fingerprint(scenario: Scenario, config: EnvConfig) -> dict[str, Any]:
    """The fingerprint of ``scenario`` run on ``config`` (its environment, defaults applied).

    Args:
        scenario: the validated scenario.
        config: the scenario's environment configuration (network resolved, defaults applied).

    Returns:
        A JSON-able mapping (see the module docstring).
    """
    import traffic_lam

    env = {f.name: _plain(getattr(config, f.name)) for f in dataclasses.fields(config) if f.name not in _ENV_OWN_KEYS}
    timing = {**config.timing.model_dump(mode="json"), "begin": config.begin_time, "end": config.end_time}
    spec = config.network
    return {
        "format": FORMAT,
        "scenario": {
            "timing": timing,
            **env,
            "controllers": [_controller(c) for c in scenario.controllers],
            "evaluation": scenario.evaluation.model_dump(mode="json"),
        },
        "network": {
            "name": spec.name,
            "net_file": _file(spec.net_file),
            "route_files": [_file(p) for p in spec.route_files],
            "additional_files": [_file(p) for p in spec.additional_files],
            "config_file": _file(_config_file(scenario.network)),
        },
        "traffic_lam": traffic_lam.__version__,
        "sumo": sumo_version(),
    }


def canonical(value: Any) -> str:
    """``value`` as canonical JSON (sorted keys, no spaces)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=_name)


def digest(value: Any) -> str:
    """SHA-256 of :func:`canonical` ``value``."""
    return hashlib.sha256(canonical(value).encode()).hexdigest()


def changes(old: dict[str, Any], new: dict[str, Any]) -> str:
    """What differs between two fingerprints, as one phrase (empty when they are the same).

    Example: ``the scenario changed since this folder was written (timing.max_green 60 -> 30)``.
    """
    found: list[tuple[str, str]] = []
    for section in _SECTIONS:
        before, after = _flat(old.get(section), section), _flat(new.get(section), section)
        for key in [*after, *(k for k in before if k not in after)]:  # in the fingerprint's order
            if before.get(key) != after.get(key):
                found.append((section, f"{key} {_show(before.get(key))} -> {_show(after.get(key))}"))
    if not found and canonical(old) != canonical(new):
        found.append(("scenario", f"format {old.get('format')} -> {new.get('format')}"))
    if not found:
        return ""
    what = [label for section, label in _SECTIONS.items() if any(s == section for s, _ in found)]
    listed = [text for _, text in found[:_SHOWN]]
    if len(found) > _SHOWN:
        listed.append(f"and {len(found) - _SHOWN} more")
    return f"{_and(what)} changed since this folder was written ({', '.join(listed)})"


def sumo_version() -> str:
    """The installed SUMO's version (its Python packages', else ``sumo --version``'s; "unknown" when neither says)."""
    for package in ("libsumo", "eclipse-sumo"):
        try:
            return metadata.version(package)
        except metadata.PackageNotFoundError:
            pass
    try:
        from traffic_lam.sim.discovery import sumo_binary

        text = subprocess.run([sumo_binary(), "--version"], capture_output=True, text=True, timeout=30).stdout
    except Exception:  # no SUMO: the run itself will say so
        return "unknown"
    match = re.search(r"Version (\S+)", text)
    return match.group(1) if match else "unknown"


def _controller(spec: ControllerSpec) -> dict[str, Any]:
    """A controller entry: label, type, arguments after defaults, and the training budget of a learner."""
    from traffic_lam.controllers import controller_type
    from traffic_lam.experiments.schema import built_class

    cls = built_class(controller_type(spec.type), spec.args)
    entry = {"name": spec.name, "type": spec.type, "args": _arguments(cls, spec.args)}
    if cls.needs_training:
        entry["training"] = spec.training.model_dump(mode="json")
    return entry


def _arguments(cls: type, args: dict[str, Any]) -> dict[str, Any]:
    """``args`` with the controller's defaults filled in (as given, when its arguments cannot be read that way)."""
    from traffic_lam.experiments.schema import args_model

    given = args if getattr(cls, "config_class", None) is None else {k: v for k, v in args.items() if v is not None}
    try:
        model, _ = args_model(cls)
        return model.model_validate(given).model_dump(mode="json")
    except Exception:  # an argument pydantic cannot check or write: the arguments as given
        return _plain(args)


def _config_file(network: str) -> Path | None:
    """The ``.sumocfg`` or ``network.yaml`` that names the network's files, if there is one."""
    from traffic_lam.sim.network import bundled_networks, resco_root

    if network.startswith("resco:"):
        name = network.split(":", 1)[1]
        return resco_root() / name / f"{name}.sumocfg"
    path = Path(network).expanduser()
    if not path.exists():
        bundled = bundled_networks().get(network)
        if bundled is None:
            return None
        path = bundled
    if path.is_file():
        return path if path.name.endswith(".sumocfg") else None
    found = [path / "network.yaml", *sorted(path.glob("*.sumocfg"))]
    return next((p for p in found if p.is_file()), None)


def _file(path: Path | None) -> dict[str, str] | None:
    if path is None:
        return None
    sha = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            sha.update(block)
    return {"file": path.name, "sha256": sha.hexdigest()}


def _plain(value: Any) -> Any:
    """``value`` as JSON values (tuples as lists, classes and functions as ``module:name``)."""
    return json.loads(json.dumps(value, default=_name))


def _name(value: Any) -> str:
    qualname = getattr(value, "__qualname__", None)
    return f"{value.__module__}:{qualname}" if qualname else repr(value)


def _flat(value: Any, section: str) -> dict[str, Any]:
    """``{dotted key: leaf}``; lists of scalars are leaves, lists of mappings are indexed."""
    out: dict[str, Any] = {}
    if value is None:
        return out

    def walk(item: Any, key: str) -> None:
        if isinstance(item, dict) and item:
            for k, v in item.items():
                walk(v, f"{key}.{k}" if key else k)
        elif isinstance(item, list) and any(isinstance(v, (dict, list)) for v in item):
            for i, v in enumerate(item):
                walk(v, f"{key}[{i}]")
        else:
            out[key] = item

    prefix = {"scenario": "", "network": "network"}.get(section, section)
    walk(value, prefix)
    return out


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def _show(value: Any) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, str):
        text = value[:12] if re.fullmatch(r"[0-9a-f]{64}", value) else value
    else:
        text = canonical(value)
    return text if len(text) <= 40 else text[:37] + "..."
