"""What every plot of a report shares: saving headless, count axes, legends off the data, empty-panel messages.

No pyplot and no global backend switch: each figure is a ``matplotlib.figure.Figure``
saved with the Agg canvas, so plotting works headless and touches no global state.
"""

from __future__ import annotations

import math
from pathlib import Path

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from traffic_lam.files import atomic_open

BARS_SIDE_BY_SIDE = 6
"""Most bars (controllers) per panel for panels side by side; with more (a comparison), they are stacked."""

LEGEND_BESIDE = 10
"""Most legend entries drawn beside a panel; a longer legend goes below it, in two columns."""

LABEL_TWO_COLUMNS = 60
"""Longest legend entry (characters) of a two-column legend below a panel; a longer one makes it one column
(two columns of long entries are wider than the figure, and the layout would narrow the axes to fit them)."""

LABEL_BESIDE = 48
"""Longest legend entry (characters) drawn beside a panel; a legend with a longer one goes below it."""


def save(fig: Figure, path: Path) -> Path:
    """Write ``fig`` as a PNG atomically (mode 0644 under the usual umask); returns ``path``."""
    with atomic_open(path, "wb", encoding=None) as handle:
        fig.savefig(handle, format="png", dpi=110, bbox_inches="tight")
    return path


def bar_panels(panels: int, bars: int, least_width: float) -> tuple[Figure, list[Axes]]:
    """A figure of ``panels`` panels of ``bars`` bars each: in a row up to :data:`BARS_SIDE_BY_SIDE` bars, else stacked.

    Each panel is at least ``least_width`` inches wide and 0.75 inch per bar; stacked panels keep a
    comparison of many run folders readable at page width instead of one very wide row.
    """
    across, down = (max(1, panels), 1) if bars <= BARS_SIDE_BY_SIDE else (1, max(1, panels))
    fig = Figure(figsize=(max(least_width, 0.75 * bars + 1.2) * across, 4.4 * down), layout="constrained")
    return fig, [fig.add_subplot(down, across, k + 1) for k in range(panels)]


def count_axis(ax: Axes, highest: float) -> None:
    """A y-axis of event counts: integer ticks from 0, never a negative tick, room above ``highest``.

    The axis starts a little below 0 so that dots at 0 are drawn whole, but no tick is placed there.
    """
    top = max(1.0, math.ceil(highest))
    ax.set_ylim(-0.04 * top - 0.1, top * 1.08 + 0.1)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=2))
    ticks = [t for t in ax.get_yticks() if 0 <= t <= top]
    ax.set_yticks(ticks)


def outside_legend(ax: Axes) -> None:
    """The legend of ``ax`` outside the axes, where it covers no data: beside the panel, or below it when long.

    A legend of more than :data:`LEGEND_BESIDE` entries, or with an entry longer than
    :data:`LABEL_BESIDE` characters, would squeeze the axes beside them; it goes below, in two
    columns unless an entry is longer than :data:`LABEL_TWO_COLUMNS`. Nothing is drawn without labels.
    """
    labels = ax.get_legend_handles_labels()[1]
    if not labels:
        return
    longest = max(map(len, labels))
    if len(labels) > LEGEND_BESIDE or longest > LABEL_BESIDE:
        columns = 2 if longest <= LABEL_TWO_COLUMNS else 1
        ax.legend(fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=columns, frameon=False)
    else:
        ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)


def message_panel(ax: Axes, text: str) -> None:
    """Replace an empty chart by ``text`` in the middle of the panel (no axes, no ticks)."""
    ax.set_axis_off()
    ax.text(0.5, 0.5, text, ha="center", va="center", fontsize="large", transform=ax.transAxes, wrap=True)
