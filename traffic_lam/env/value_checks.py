"""Stop an episode at the first nan or inf that a reward or an observation gives.

A non-finite value from a user's class would otherwise flow silently into a learner
(and its saved model). The checks run at every decision; they cost one
``math.isfinite`` per reward and one ``np.isfinite(...).all()`` per observation.
"""

from __future__ import annotations

import functools
import inspect
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from traffic_lam.errors import SignalValueError


def spec_name(spec: Any) -> str:
    """How a reward or observation spec reads in a message.

    A name or import path as given (``"queue"``, ``"mymod:Bad"``); for a class, a
    function or an instance, ``module:qualified name`` of the class or function.
    """
    if isinstance(spec, Mapping):
        spec = spec.get("name")
    if isinstance(spec, str):
        return spec
    if isinstance(spec, functools.partial):
        spec = spec.func
    target = spec if isinstance(spec, type) or inspect.isroutine(spec) else type(spec)
    return f"{getattr(target, '__module__', '?')}:{getattr(target, '__qualname__', repr(target))}"


def check_rewards(rewards: dict[str, float], name: str, time: float) -> None:
    """Raise on the first reward that is nan or infinite; as :func:`check_observations`.

    Raises:
        SignalValueError: ``reward 'NAME' gave nan for signal 'ID' at t=T s``.
    """
    if not all(map(math.isfinite, rewards.values())):
        sid = next(sid for sid, value in rewards.items() if not math.isfinite(value))
        raise SignalValueError(f"reward '{name}' gave {rewards[sid]} for signal '{sid}' at t={time:g} s")


def check_observations(observations: dict[str, Any], name: str, time: float) -> None:
    """Raise on the first observation holding a nan or infinite number (non-numeric ones are not checked).

    Args:
        observations: this decision's observation per signal id.
        name: the observation's name (see :func:`spec_name`).
        time: simulation time of the decision (s).

    Raises:
        SignalValueError: ``observation 'NAME' gave inf (at index K) for signal 'ID' at t=T s``.

    """
    for sid, observation in observations.items():
        try:
            finite = bool(np.isfinite(observation).all())
        except TypeError:  # not an array of numbers: nothing a number check can say
            continue
        if not finite:
            flat = np.asarray(observation, dtype=float).ravel()
            k = int(np.flatnonzero(~np.isfinite(flat))[0])
            raise SignalValueError(
                f"observation '{name}' gave {flat[k]} (at index {k}) for signal '{sid}' at t={time:g} s"
            )
