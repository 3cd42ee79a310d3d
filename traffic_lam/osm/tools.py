"""Run SUMO's executables and Python tools as subprocesses, with one-line errors."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from traffic_lam.errors import SimulationError
from traffic_lam.sim.discovery import sumo_binary, sumo_home, sumo_tool


def run_binary(name: str, args: Sequence[str], what: str) -> str:
    """Run SUMO's executable ``name`` with ``args``; return its output (stdout and stderr).

    Raises:
        SimulationError: naming ``what`` and the tool's last error line if it fails.
    """
    return _run([sumo_binary(name), *args], what)


def run_tool(name: str, args: Sequence[str], what: str, cwd: Path) -> str:
    """Run SUMO's Python tool ``name`` (``randomTrips.py`` ...) in ``cwd``, where it leaves any side files."""
    return _run([sys.executable, str(sumo_tool(name)), *args], what, cwd)


def _run(command: list[str], what: str, cwd: Path | None = None) -> str:
    """Run ``command`` with ``SUMO_HOME`` set (the tools look up the executables there)."""
    env = {**os.environ, "SUMO_HOME": str(sumo_home())}
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False, cwd=cwd)
    output = done.stdout + done.stderr
    if done.returncode != 0:
        lines = [line for line in output.splitlines() if line.strip()]
        errors = [line for line in lines if line.lower().startswith("error")]
        errors = errors or [line for line in lines if "error" in line.lower()] or lines or ["no output"]
        raise SimulationError(f"{what} failed: {' '.join(errors[0].split())}")
    return output
