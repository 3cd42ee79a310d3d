"""Locate SUMO without requiring ``SUMO_HOME``.

Lookup order: the ``eclipse-sumo`` wheel (``import sumo``), then the ``SUMO_HOME``
environment variable, then a ``sumo`` binary on ``PATH``. Nothing happens at import
time; every function looks things up when called.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from traffic_lam.errors import ConfigError, SumoNotFoundError

_INSTALL_HINT = "install it with `pip install eclipse-sumo libsumo traci sumolib` or set SUMO_HOME"


def sumo_home() -> Path:
    """Return the SUMO installation folder (the one holding ``bin/`` and ``tools/``).

    Raises:
        SumoNotFoundError: if no SUMO installation can be found.

    """
    try:
        import sumo  # the eclipse-sumo wheel

        home = getattr(sumo, "SUMO_HOME", None)
        if home and (Path(home) / "bin").is_dir():
            return Path(home)
    except ImportError:
        pass
    env_home = os.environ.get("SUMO_HOME")
    if env_home and (Path(env_home) / "bin").is_dir():
        return Path(env_home)
    binary = shutil.which("sumo")
    if binary:
        return Path(binary).resolve().parent.parent
    raise SumoNotFoundError(f"SUMO not found: {_INSTALL_HINT}")


def sumo_binary(name: str = "sumo") -> str:
    """Return the path of a SUMO executable (``sumo``, ``sumo-gui``, ``netconvert`` ...).

    Args:
        name: executable name inside SUMO's ``bin`` folder.

    Raises:
        SumoNotFoundError: if the executable does not exist.

    """
    home = sumo_home()
    for candidate in (home / "bin" / name, home / "bin" / f"{name}.exe"):
        if candidate.is_file():
            return str(candidate)
    found = shutil.which(name)
    if found:
        return found
    raise SumoNotFoundError(f"SUMO executable '{name}' not found under {home / 'bin'}: {_INSTALL_HINT}")


def gui_binary() -> str:
    """Return the path of ``sumo-gui`` once a display to draw on is known to exist.

    On Linux sumo-gui needs an X11 (or Wayland) display; without one it exits at once
    and a TraCI client would wait for it in vain.

    Raises:
        ConfigError: on Linux with neither ``DISPLAY`` nor ``WAYLAND_DISPLAY`` set.
        SumoNotFoundError: if ``sumo-gui`` does not exist.

    """
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        raise ConfigError(
            "gui: no display (DISPLAY is not set): run on a desktop, or under Xvfb "
            "(apt-get install xvfb; xvfb-run traffic-lam ...)"
        )
    return sumo_binary("sumo-gui")


def sumo_tools() -> Path:
    """Return SUMO's ``tools`` folder (``randomTrips.py`` and friends)."""
    tools = sumo_home() / "tools"
    if not tools.is_dir():
        raise SumoNotFoundError(f"SUMO tools folder missing at {tools}: {_INSTALL_HINT}")
    return tools


def sumo_tool(name: str) -> Path:
    """Return the path of one of SUMO's Python tools (``randomTrips.py``, ``routeSampler.py`` ...).

    Args:
        name: file name inside SUMO's ``tools`` folder.

    Raises:
        SumoNotFoundError: if the tool does not exist.
    """
    tool = sumo_tools() / name
    if not tool.is_file():
        raise SumoNotFoundError(f"SUMO tool '{name}' not found under {tool.parent}: {_INSTALL_HINT}")
    return tool


def sumo_data(name: str) -> Path:
    """Return the path of a file in SUMO's ``data`` folder (``typemap/osmNetconvert.typ.xml`` ...).

    Raises:
        SumoNotFoundError: if the file does not exist.
    """
    path = sumo_home() / "data" / name
    if not path.is_file():
        raise SumoNotFoundError(f"SUMO data file '{name}' not found under {path.parent}: {_INSTALL_HINT}")
    return path
