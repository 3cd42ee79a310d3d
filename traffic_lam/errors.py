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


class ControllerError(TrafficLamError):
    """A controller is unknown, misconfigured, or cannot run the given network."""
