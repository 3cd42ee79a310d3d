"""Frames of a replay: what each signal showed, drawn as a text panel under each picture, assembled into a GIF.

:class:`FrameInfo` holds one decision: the simulation time and, per signal, its green
(index and state string, and the green it leaves when it switches) and its queue.
:func:`overlay` draws it as a panel below a sumo-gui screenshot; :func:`write_gif`
turns the pictures into one animated GIF (Pillow), one frame per decision.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFont

from traffic_lam.files import atomic_open

FONT_SIZE = 14
"""Pixel size of the panel's text."""

DEFAULT_FPS = 4.0
"""Frames (decisions) per second of an animation."""

_MARGIN, _GAP = 8, 16
_MAX_STATE = 32
"""Longest state string shown whole (longer ones are cut with an ellipsis)."""
_BACKGROUND, _TEXT, _DIM = (24, 24, 24), (235, 235, 235), (150, 150, 150)
_LIGHT_COLOURS = {"G": (40, 220, 40), "g": (20, 150, 20), "y": (240, 210, 0), "Y": (240, 210, 0), "r": (230, 50, 40),
                  "R": (230, 50, 40), "u": (240, 150, 0), "o": (160, 160, 160), "O": (90, 160, 255),
                  "s": (200, 120, 255)}  # fmt: skip
"""SUMO's link states (``G`` priority green, ``g`` green, ``y`` yellow, ``r`` red ...) in their lights' colours."""


@dataclass(frozen=True)
class SignalFrame:
    """One signal at one decision.

    Attributes:
        signal: the traffic light's id.
        green: index of the green it shows (or is switching to) after this decision.
        state: that green's SUMO state string (one character per controlled link).
        previous: the green it showed before, when this decision switches (yellow first); else None.
        queue: halting vehicles on its incoming lanes at the decision (``infos[agent]["queue"]``).
    """

    signal: str
    green: int
    state: str
    previous: int | None
    queue: float


@dataclass(frozen=True)
class FrameInfo:
    """One decision of a replay: its simulation time, s, and every controlled signal."""

    time: float
    signals: tuple[SignalFrame, ...]


def frame_info(
    time: float,
    before: Mapping[str, Mapping[str, Any]],
    after: Mapping[str, Mapping[str, Any]],
    greens: Mapping[str, Sequence[str]],
) -> FrameInfo:
    """The frame of the decision taken at ``time``, from the infos before it and after its step.

    Args:
        time: simulation time of the decision, s.
        before: the environment's infos at the decision (queues, green shown).
        after: the infos the step returned (the green chosen).
        greens: per signal, its green state strings (``SignalLayout.greens``).
    """
    signals = []
    for sid in sorted(after):
        green, shown = int(after[sid]["phase"]), int(before[sid]["phase"])
        state = greens[sid][green]
        signals.append(SignalFrame(sid, green, state, shown if shown != green else None, float(before[sid]["queue"])))
    return FrameInfo(float(time), tuple(signals))


def font(size: int = FONT_SIZE) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """DejaVu Sans Mono (shipped with matplotlib) at ``size`` px, else Pillow's own default font."""
    import matplotlib

    try:
        return ImageFont.truetype(str(Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSansMono.ttf"), size)
    except OSError:
        return ImageFont.load_default(size)


def overlay(picture: Image.Image, info: FrameInfo, title: str = "", face: Any = None) -> Image.Image:
    """``picture`` with a panel below it: the title and time, then per signal its green, state and queue.

    Signals are laid out in as many columns as fit the picture's width. The panel's size
    depends only on the signals (ids and state lengths), so every frame of a replay has
    the same size.

    Args:
        picture: a sumo-gui screenshot.
        info: the decision it shows.
        title: text before the time (e.g. the controller's label and the seed).
        face: the font (default: :func:`font`).
    """
    face = face or font()
    line = int(face.size * 1.5) if hasattr(face, "size") else 18
    width = picture.width
    column = max(face.getlength(_template(s)) for s in info.signals) if info.signals else 0
    columns = max(1, int((width - 2 * _MARGIN + _GAP) // (column + _GAP)))
    rows = math.ceil(len(info.signals) / columns)
    frame = Image.new("RGB", (width, picture.height + 2 * _MARGIN + line * (1 + rows)), _BACKGROUND)
    frame.paste(picture.convert("RGB"), (0, 0))
    draw = ImageDraw.Draw(frame)
    top = picture.height + _MARGIN
    draw.text((_MARGIN, top), f"{title}{'   ' if title else ''}t = {info.time:g} s", fill=_TEXT, font=face)
    for k, signal in enumerate(info.signals):
        x = _MARGIN + (k % columns) * (column + _GAP)
        _draw_signal(draw, (x, top + line * (1 + k // columns)), signal, face)
    return frame


def _template(signal: SignalFrame) -> str:
    """The widest text an entry of ``signal`` can take (for the layout)."""
    return f"{signal.signal}  green 99→99 {_shown_state(signal.state)}  queue 999"


def _shown_state(state: str) -> str:
    return state if len(state) <= _MAX_STATE else state[: _MAX_STATE - 1] + "…"


def _draw_signal(draw: ImageDraw.ImageDraw, at: tuple[float, float], signal: SignalFrame, face: Any) -> None:
    """One entry: ``id  green [k→]g  <state in colour>  queue q``."""
    x, y = at
    switch = f"{signal.previous}→" if signal.previous is not None else ""
    for text, colour in ((f"{signal.signal}  ", _TEXT), (f"green {switch}{signal.green} ", _DIM)):
        draw.text((x, y), text, fill=colour, font=face)
        x += face.getlength(text)
    for char in _shown_state(signal.state):
        draw.text((x, y), char, fill=_LIGHT_COLOURS.get(char, _TEXT), font=face)
        x += face.getlength(char)
    draw.text((x, y), f"  queue {signal.queue:g}", fill=_TEXT, font=face)


def write_gif(
    pictures: Sequence[Path | Image.Image], infos: Sequence[FrameInfo], path: Path, fps: float = DEFAULT_FPS,
    title: str = "",
) -> Path:  # fmt: skip
    """Write the animated GIF of ``pictures`` with each one's panel (:func:`overlay`), atomically.

    Args:
        pictures: screenshots (files or images), one per decision, in order.
        infos: the decision each shows.
        path: the GIF to write.
        fps: frames per second.
        title: the panels' title.

    Returns:
        ``path``.

    Raises:
        ValueError: no pictures, or not one info per picture.
    """
    if not pictures or len(pictures) != len(infos):
        raise ValueError(f"write_gif: expected one info per picture, got {len(pictures)} pictures, {len(infos)} infos")
    face = font()
    frames = []
    for picture, info in zip(pictures, infos, strict=True):
        with Image.open(picture) if isinstance(picture, Path) else contextlib.nullcontext(picture) as image:
            frames.append(overlay(image, info, title, face).quantize(colors=255, dither=Image.Dither.NONE))
    with atomic_open(path, "wb") as handle:
        frames[0].save(handle, format="GIF", save_all=True, append_images=frames[1:],
                       duration=max(1, round(1000 / fps)), loop=0, optimize=False)  # fmt: skip
    return path
