"""One problem found in a network before training: its severity, a stable code and a one-line message."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

Severity = Literal["error", "warning"]
"""``error``: SUMO refuses the files or the run fails; ``warning``: it runs, but not as the user likely means."""


@dataclass(frozen=True)
class Problem:
    """A problem :func:`~traffic_lam.diagnostics.check_network` found.

    Attributes:
        severity: ``"error"`` (SUMO refuses the files, or a run cannot start) or ``"warning"``
            (the network loads and runs, but something is likely not what the user means).
        code: a stable short name of the check (``duplicate-ids``, ``short-yellow`` ...).
        message: one line naming the signal, route or file and what is wrong.

    """

    severity: Severity
    code: str
    message: str

    def line(self) -> str:
        """The problem as printed: ``error: ...`` or ``warning: ...``."""
        return f"{self.severity}: {self.message}"


def names(items: Sequence[str], limit: int = 5) -> str:
    """Quoted, comma-separated names, the first ``limit`` of them and how many more."""
    shown = ", ".join(f"'{item}'" for item in items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")
