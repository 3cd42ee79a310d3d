"""Where sumo-gui draws: the user's display, or a virtual X server (Xvfb) started for one recording.

On Linux sumo-gui needs an X display. :func:`virtual_display` starts ``Xvfb`` on a
display number it picks itself (``-displayfd``), points ``DISPLAY`` at it for the SUMO
processes started inside the ``with`` block, then restores ``DISPLAY`` and stops Xvfb.
Other platforms draw without X: nothing is started there.
"""

from __future__ import annotations

import contextlib
import os
import select
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator

from traffic_lam.errors import ConfigError

XVFB_SCREEN = "1600x1200x24"
"""Xvfb's screen (width x height x depth): room for sumo-gui's window and its screenshots."""

XVFB_START_TIMEOUT_S = 10.0
"""Seconds Xvfb may take to report its display number."""

INSTALL_XVFB = "apt-get install xvfb"
"""How to get Xvfb on Debian and Ubuntu."""


class NoDisplayError(ConfigError):
    """Neither a display nor Xvfb to draw sumo-gui on."""


def has_display() -> bool:
    """Whether sumo-gui can open a window here (always off Linux; on Linux when DISPLAY or WAYLAND_DISPLAY is set)."""
    if not sys.platform.startswith("linux"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def needs_xvfb() -> bool:
    """Whether recording here needs Xvfb (Linux: sumo-gui draws only on an X display)."""
    return sys.platform.startswith("linux")


def xvfb_binary() -> str:
    """The ``Xvfb`` executable.

    Raises:
        NoDisplayError: none on ``PATH``, as one line saying what to install.
    """
    found = shutil.which("Xvfb")
    if found is None and has_display():
        raise NoDisplayError(f"replay: recording needs Xvfb, not found on PATH: {INSTALL_XVFB} (or watch live: --gui)")
    if found is None:
        raise NoDisplayError(f"replay: no display (DISPLAY is not set) and no Xvfb to record under: {INSTALL_XVFB}")
    return found


@contextlib.contextmanager
def virtual_display(screen: str = XVFB_SCREEN) -> Iterator[str | None]:
    """Run the block with ``DISPLAY`` pointing at a fresh Xvfb (Linux); yields the display (None elsewhere).

    Args:
        screen: Xvfb's screen, ``WIDTHxHEIGHTxDEPTH``.

    Raises:
        NoDisplayError: Xvfb is not installed.
        ConfigError: Xvfb did not start.
    """
    if not needs_xvfb():
        yield None
        return
    binary = xvfb_binary()
    read, write = os.pipe()
    try:
        process = subprocess.Popen(
            [binary, "-displayfd", str(write), "-screen", "0", screen, "-nolisten", "tcp"],
            pass_fds=(write,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
    except OSError as exc:
        os.close(read)
        raise ConfigError(f"replay: cannot start {binary}: {exc.strerror}") from None
    finally:
        os.close(write)
    previous = os.environ.get("DISPLAY")
    try:
        display = f":{_display_number(read, process)}"
        os.environ["DISPLAY"] = display
        yield display
    finally:
        os.close(read)
        _restore("DISPLAY", previous)
        _stop(process)


def _display_number(read: int, process: subprocess.Popen) -> str:
    """The display number Xvfb writes to ``read`` once it accepts connections."""
    text = b""
    deadline = time.monotonic() + XVFB_START_TIMEOUT_S
    while not text.endswith(b"\n"):
        left = deadline - time.monotonic()
        ready = select.select([read], [], [], max(left, 0))[0] if left > 0 else []
        chunk = os.read(read, 16) if ready else b""
        if not chunk:
            code = process.poll()
            late = f"gave no display number within {XVFB_START_TIMEOUT_S:g} s"
            why = f"exited with code {code}" if code is not None else late
            raise ConfigError(f"replay: Xvfb {why}")
        text += chunk
    return text.decode().strip()


def _restore(name: str, value: str | None) -> None:
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = value


def _stop(process: subprocess.Popen) -> None:
    """Stop Xvfb: terminate, then kill if it does not exit within a few seconds."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
