"""A stable look per controller: the same label has the same colour in every plot, run and comparison.

The colour of a label depends on the label alone, never on its position in a table: the
built-in controller names have fixed colours, any other label is hashed (CRC-32) into a
palette of the remaining colours. When ``traffic-lam compare`` merges several run folders
their labels are prefixed ``<folder>/``; the colour is that of the label inside its folder
(``runA/fixed-time`` and ``runB/fixed-time`` are both fixed-time's grey) and the folder
picks the marker and line style instead; a learner's final policy then has its folder's marker,
hollow.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

BUILT_IN: Mapping[str, str] = MappingProxyType(
    {
        "fixed-time": "#7f7f7f",
        "actuated": "#ff7f0e",
        "max-pressure": "#2ca02c",
        "greedy": "#9467bd",
        "batched-q": "#1f77b4",
        "dqn": "#d62728",
        "ppo": "#8c564b",
    }
)
"""Fixed colours of the built-in controller names."""

OTHERS = (
    "#e377c2", "#bcbd22", "#17becf", "#393b79", "#637939", "#8c6d31",
    "#843c39", "#7b4173", "#3182bd", "#e6550d", "#31a354", "#756bb1",
)  # fmt: skip
"""Colours of the other labels, picked by a hash of the label (none is a built-in name's colour)."""

MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
"""Marker of each run folder in a comparison (first folder: circles)."""

FINAL_MARKER = "X"
"""Marker of a learner's final policy (``ppo.final``) in one run's plots, drawn in its learner's colour
(in a comparison, where the folder picks the marker, the final policy's marker is hollow)."""

LINES: tuple[Any, ...] = ("-", ":", "-.", (0, (8, 2, 1, 2, 1, 2)))
"""Line style of each run folder's learning curves in a comparison, and of learners sharing a colour.

None is dashed: the learning-curve plot keeps dashes for the classic controllers' reference lines."""


def colour(label: str) -> str:
    """The colour of a controller label: fixed for a built-in name, else a hash of the label into :data:`OTHERS`.

    A learner's final policy (``ppo.final``, beside its selected one ``ppo``) has the colour of its learner.
    """
    label = label.removesuffix(".final") or label
    if label in BUILT_IN:
        return BUILT_IN[label]
    return OTHERS[zlib.crc32(label.encode("utf-8")) % len(OTHERS)]


@dataclass(frozen=True)
class Look:
    """How one controller label is drawn.

    Attributes:
        colour: its colour (:func:`colour` of the label inside its folder).
        marker: its folder's marker (dots and points).
        line: its line style (curves): a Matplotlib name or dash pattern.
        hollow: the marker is drawn as an outline (a final policy in a comparison).
    """

    colour: str
    marker: str = "o"
    line: Any = "-"
    hollow: bool = False

    def dots(self) -> dict[str, Any]:
        """Keyword arguments of ``Axes.scatter`` that draw this look's dots."""
        if self.hollow:
            return {"marker": self.marker, "facecolors": "none", "edgecolors": self.colour, "linewidths": 1.5}
        return {"marker": self.marker, "color": self.colour}


def folders_in(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """The run folders of merged rows (their ``run`` column), in first-seen order; empty for one run's rows."""
    seen: list[str] = []
    for row in rows:
        folder = row.get("run")
        if folder is not None and str(folder) not in seen:
            seen.append(str(folder))
    return seen


def look(label: str, folders: Sequence[str] = ()) -> Look:
    """The look of ``label``; a label ``<folder>/<name>`` of one of ``folders`` has the colour of ``name``.

    Args:
        label: a controller label (as in the rows' ``controller`` column).
        folders: the run folders a comparison merged (:func:`folders_in`), in order.
    """
    for k, folder in enumerate(folders):
        if label.startswith(f"{folder}/"):
            name = label[len(folder) + 1 :]
            return Look(colour(name), MARKERS[k % len(MARKERS)], LINES[k % len(LINES)], name.endswith(".final"))
    return Look(colour(label), FINAL_MARKER if label.endswith(".final") else "o")


def looks(labels: Iterable[str], folders: Sequence[str] = ()) -> dict[str, Look]:
    """:func:`look` of each label; labels of one run that hash to the same colour get a second cue.

    The colour stays the label's own. Among the labels that share one (12 colours for any
    number of learners), in alphabetical order, the second gets the second line style and
    marker, and so on: the cue depends on which labels are drawn together, never on their
    order. A comparison's labels already differ by folder (:func:`look`).
    """
    labels = list(labels)
    drawn = {label: look(label, folders) for label in labels}
    if folders:
        return drawn
    sharing: dict[str, list[str]] = {}
    for label in sorted(set(labels)):
        if not label.endswith(".final"):  # a final policy shares its learner's colour on purpose
            sharing.setdefault(drawn[label].colour, []).append(label)
    for group in sharing.values():
        for k, label in enumerate(group[1:], start=1):
            drawn[label] = Look(drawn[label].colour, MARKERS[k % len(MARKERS)], LINES[k % len(LINES)])
    return drawn
