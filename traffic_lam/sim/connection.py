"""Open and close SUMO connections: libsumo (in-process, default) or TraCI (socket).

libsumo runs one simulation per process. :func:`libsumo_in_use` tells whether this
process's libsumo already runs one; the environment then moves its own simulation
into a worker process (see :mod:`traffic_lam.env.worker`). TraCI connections get a
per-instance label, never a global counter.

A TraCI client waits a bounded time for SUMO to open its port and gives up at once
when the SUMO process has exited (e.g. sumo-gui without a display), with one line.
"""

from __future__ import annotations

import contextlib
import subprocess
import time
from pathlib import Path
from typing import Any

from traffic_lam.errors import SimulationError, SumoNotFoundError

BACKENDS = ("libsumo", "traci")

TRACI_CONNECT_TIMEOUT_S = 30.0
"""Seconds a TraCI client waits for SUMO to open its port (SUMO loads the network first)."""
_POLL_S = 0.05


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
        return _start_traci(command, label)
    raise SimulationError(f"unknown backend '{backend}': expected one of {', '.join(BACKENDS)}")


def _start_traci(command: list[str], label: str) -> Any:
    """Launch SUMO with a free ``--remote-port`` and connect to it, within :data:`TRACI_CONNECT_TIMEOUT_S`."""
    try:
        import traci
        from traci.connection import Connection
    except ImportError:
        raise SumoNotFoundError("the traci package is missing: pip install traci") from None
    port = traci.getFreeSocketPort()
    try:
        process = subprocess.Popen([*command, "--remote-port", str(port)], stdout=None)
    except OSError as exc:
        raise _start_error(exc, command) from None
    deadline = time.monotonic() + TRACI_CONNECT_TIMEOUT_S
    while True:
        try:
            connection = Connection("localhost", port, process, None, True, label)
            break
        except OSError:
            reason = _not_started(process, command[0], deadline)
            if reason:
                raise SimulationError(f"SUMO failed to start: {reason} (command: {' '.join(command)})") from None
            time.sleep(_POLL_S)
    try:
        traci.switch(label)
        connection.getVersion()
    except Exception as exc:
        close(connection)
        raise _start_error(exc, command) from None
    return connection


def _not_started(process: subprocess.Popen, binary: str, deadline: float) -> str | None:
    """Why SUMO will never accept the connection (it exited, or the wait is over: then it is killed), or None."""
    name = Path(binary).name
    code = process.poll()
    if code is not None:
        return f"{name} exited with code {code} before accepting the TraCI connection"
    if time.monotonic() < deadline:
        return None
    process.kill()
    process.wait()
    return f"{name} did not open its TraCI port within {TRACI_CONNECT_TIMEOUT_S:g} s"


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
