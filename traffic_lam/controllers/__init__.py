"""Controllers: one interface (:class:`Controller`) for classic controllers and learners.

Built-in controllers are looked up by name in :data:`CONTROLLERS` (read-only); a user
passes their own subclass, an instance, or an import path ``"package.module:Class"``
to :func:`make_controller` (and so to :func:`traffic_lam.evaluate`).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

from traffic_lam.controllers.actuated import Actuated
from traffic_lam.controllers.base import Controller, ProgramController, best_allowed
from traffic_lam.controllers.budget import TrainingBudget
from traffic_lam.controllers.fixed_time import FixedTime
from traffic_lam.controllers.greedy import Greedy
from traffic_lam.controllers.max_pressure import MaxPressure
from traffic_lam.env.registry import import_object
from traffic_lam.errors import ControllerError

CONTROLLERS: Mapping[str, type[Controller]] = MappingProxyType(
    {c.name: c for c in (FixedTime, Actuated, MaxPressure, Greedy)}
)
"""Built-in classic controllers by name (read-only)."""

LEARNERS: Mapping[str, str] = MappingProxyType(
    {
        "batched-q": "traffic_lam.controllers.batched_q:BatchedQ",
        "bc": "traffic_lam.imitation.learners:BehaviourCloning",
        "dagger": "traffic_lam.imitation.learners:DAgger",
        "dqn": "traffic_lam.controllers.sb3:DQNController",
        "ppo": "traffic_lam.controllers.sb3:PPOController",
    }
)
"""Built-in learning controllers by name -> import path (imported on use: they need torch)."""


def controller_names() -> list[str]:
    """Every built-in controller name, classic then learning."""
    return [*CONTROLLERS, *LEARNERS]


def controller_type(spec: str) -> type[Controller]:
    """The class named by ``spec``: a built-in name or ``"module:Class"`` (what :func:`make_controller` builds).

    Raises:
        ControllerError: unknown name, unimportable path, or not a Controller subclass.
    """
    if spec in CONTROLLERS:
        return CONTROLLERS[spec]
    if spec not in LEARNERS and ":" not in spec:
        known = ", ".join(controller_names())
        raise ControllerError(f"unknown controller '{spec}': expected one of {known} or 'module:Class'")
    cls = import_object(LEARNERS.get(spec, spec), "controller", ControllerError)
    if not (isinstance(cls, type) and issubclass(cls, Controller)):
        raise ControllerError(f"controller '{spec}': expected a Controller subclass, got {cls!r}")
    return cls


def controller_class(name: str, class_path: str | None = None) -> type[Controller]:
    """The class of a saved controller: the built-in named ``name``, else the one at ``class_path``.

    Raises:
        ControllerError: neither resolves to a :class:`Controller` subclass.
    """
    if name in CONTROLLERS or name in LEARNERS or not class_path:
        return controller_type(name)
    return controller_type(class_path)


def load(path: str | Path, **overrides: Any) -> Controller:
    """Rebuild any controller saved by :meth:`Controller.save` from its path alone.

    The saved document names the controller, so the right class (classic, SB3,
    batched-q, or a user's ``module:Class``) is built, its state restored and its
    artefact (weights, SB3 zip) loaded.

    Args:
        path: what :meth:`Controller.save` returned (for a run folder:
            ``runs/<run>/models/<label>/model.final``).
        **overrides: constructor arguments replacing the saved ones (e.g. ``device="cpu"``).

    Raises:
        ControllerError: nothing saved there, or the controller it names is unknown.
    """
    return Controller.load(path, **overrides)


def make_controller(spec: Any, options: Mapping[str, Any] | None = None) -> Controller:
    """Build a controller from a name, ``"module:Class"``, a class or an instance.

    Args:
        spec: a name of :data:`CONTROLLERS`, an import path, a :class:`Controller`
            subclass, or a ready instance (returned as is).
        options: keyword arguments for the constructor (not allowed with an instance).

    Raises:
        ControllerError: unknown name, unimportable path, not a Controller, or bad options.

    """
    if isinstance(spec, Controller):
        if options:
            raise ControllerError(f"controller options {sorted(options)} given with a ready instance {spec!r}")
        return spec
    cls = controller_type(spec) if isinstance(spec, str) else spec
    if not (isinstance(cls, type) and issubclass(cls, Controller)):
        raise ControllerError(f"controller {spec!r}: expected a Controller subclass, name or instance")
    try:
        return cls(**dict(options or {}))
    except TypeError as exc:
        raise ControllerError(f"controller '{getattr(cls, 'name', cls.__name__)}': bad options ({exc})") from None


__all__ = [
    "CONTROLLERS",
    "LEARNERS",
    "Actuated",
    "Controller",
    "FixedTime",
    "Greedy",
    "MaxPressure",
    "ProgramController",
    "TrainingBudget",
    "best_allowed",
    "controller_class",
    "controller_names",
    "controller_type",
    "load",
    "make_controller",
]
