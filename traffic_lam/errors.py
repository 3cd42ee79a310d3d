"""Exceptions raised by traffic_lam.

Every error a user can trigger derives from :class:`TrafficLamError` and carries a
one-line message naming the file, key or signal concerned and what was expected.
"""

from __future__ import annotations


class TrafficLamError(Exception):
    """Base class of all errors raised by traffic_lam on bad input or setup."""


class SumoNotFoundError(TrafficLamError):
    """SUMO (binaries or Python bindings) could not be located."""


class NetworkError(TrafficLamError):
    """A network specification or file is missing, unreadable or unusable."""


class SignalError(TrafficLamError):
    """A traffic light cannot be controlled (no program, too few green phases ...)."""


class ConfigError(TrafficLamError, ValueError):
    """An option has a wrong type or an impossible value."""


class SimulationError(TrafficLamError):
    """SUMO refused to start or failed while running."""


class SignalValueError(TrafficLamError, ValueError):
    """An observation or reward gave a value that is not finite (nan, inf) for a signal.

    Raised during an episode, at the decision where the value appeared; the message
    names the reward or observation, the value, the signal and the simulation time.
    """


class ControllerError(TrafficLamError):
    """A controller is unknown, misconfigured, or cannot run the given network."""
