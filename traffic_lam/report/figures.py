"""What every plot of a report shares: saving a figure headless, count axes, a panel that says why it is empty.

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


def save(fig: Figure, path: Path) -> Path:
    """Write ``fig`` as a PNG atomically (mode 0644 under the usual umask); returns ``path``."""
    with atomic_open(path, "wb", encoding=None) as handle:
        fig.savefig(handle, format="png", dpi=110, bbox_inches="tight")
    return path


def count_axis(ax: Axes, highest: float) -> None:
    """A y-axis of event counts: integer ticks from 0, never a negative tick, room above ``highest``.

    The axis starts a little below 0 so that dots at 0 are drawn whole, but no tick is placed there.
    """
    top = max(1.0, math.ceil(highest))
    ax.set_ylim(-0.04 * top - 0.1, top * 1.08 + 0.1)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=2))
    ticks = [t for t in ax.get_yticks() if 0 <= t <= top]
    ax.set_yticks(ticks)


def message_panel(ax: Axes, text: str) -> None:
    """Replace an empty chart by ``text`` in the middle of the panel (no axes, no ticks)."""
    ax.set_axis_off()
    ax.text(0.5, 0.5, text, ha="center", va="center", fontsize="large", transform=ax.transAxes, wrap=True)
