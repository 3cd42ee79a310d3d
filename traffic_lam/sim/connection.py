"""Open and close SUMO connections: libsumo (in-process, default) or TraCI (socket).

libsumo runs one simulation per process. :func:`libsumo_in_use` tells whether this
process's libsumo already runs one; the environment then moves its own simulation
into a worker process (see :mod:`traffic_lam.env.worker`). TraCI connections get a
per-instance label, never a global counter.
"""

from __future__ import annotations

import contextlib
from typing import Any

from traffic_lam.errors import SimulationError, SumoNotFoundError

BACKENDS = ("libsumo", "traci")


def libsumo_in_use() -> bool:
    """Whether this process's libsumo currently holds a loaded simulation."""
    libsumo = _import_libsumo()
    return bool(libsumo.simulation.isLoaded())


def start(command: list[str], backend: str, label: str) -> Any:
    """Start SUMO and return the connection object.

    Both backends return an object with the TraCI domain API (``.simulation``,
    ``.lane``, ``.trafficlight``, ``.simulationStep()``, ``.close()``).

    Args:
        command: full SUMO command line, binary first.
        backend: ``"libsumo"`` or ``"traci"``.
        label: unique TraCI label of the caller (ignored by libsumo).

    Raises:
        SimulationError: SUMO refused the command line or the network.

    """
    if backend == "libsumo":
        libsumo = _import_libsumo()
        try:
            libsumo.start(command)
        except Exception as exc:  # libsumo raises TraCIException / FatalTraCIError
            raise _start_error(exc, command) from None
        return libsumo
    if backend == "traci":
        try:
            import traci
        except ImportError:
            raise SumoNotFoundError("the traci package is missing: pip install traci") from None
        try:
            traci.start(command, label=label, stdout=None)
        except Exception as exc:
            raise _start_error(exc, command) from None
        return traci.getConnection(label)
    raise SimulationError(f"unknown backend '{backend}': expected one of {', '.join(BACKENDS)}")


def close(connection: Any) -> None:
    """Close a connection returned by :func:`start`, ignoring an already-closed one."""
    with contextlib.suppress(Exception):  # already closed / SUMO gone: nothing left to release
        connection.close()


def _import_libsumo() -> Any:
    try:
        import libsumo
    except ImportError:
        raise SumoNotFoundError("the libsumo package is missing: pip install libsumo (or backend='traci')") from None
    return libsumo


def _start_error(exc: Exception, command: list[str]) -> SimulationError:
    return SimulationError(f"SUMO failed to start: {_sumo_message(exc)} (command: {' '.join(command)})")


def _sumo_message(exc: Exception) -> str:
    text = str(exc).strip() or exc.__class__.__name__
    return text.splitlines()[-1]
