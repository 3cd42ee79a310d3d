"""Yellow realism: a yellow must let a vehicle at the approach speed limit stop comfortably.

Warn (``docs/definitions.md``) when the yellow a link gets is shorter than ``v_max / (2 * 3 m/s²)``
for the speed limit of its approach lane; a link that goes from green straight to red
(no yellow at all) is warned about too.

Under agent control every link losing its green gets the environment's ``yellow_time``.
Under program control (fixed-time, actuated) the program's own yellow phases count: a
link's yellow is the summed duration of the consecutive phases showing it yellow after
a green.
"""

from __future__ import annotations

from collections.abc import Mapping

from traffic_lam.signals import SignalLayout
from traffic_lam.signals.phases import GREEN

COMFORTABLE_DECEL = 3.0
"""m/s²: deceleration a yellow must allow (``docs/definitions.md``)."""


def yellow_warnings(
    layouts: Mapping[str, SignalLayout], yellow_time: float | None, decel: float = COMFORTABLE_DECEL
) -> list[str]:
    """One warning per signal whose yellow is too short for some approach (worst link named).

    Args:
        layouts: the controlled signals.
        yellow_time: the yellow every transition gets (agent control), or None to check
            each signal's own program (program control).
        decel: deceleration the yellow must allow (m/s²).

    Returns:
        Warnings, one line each; empty when every yellow is long enough.

    """
    warnings: list[str] = []
    for sid, layout in layouts.items():
        worst: tuple[float, float, float, int] | None = None  # (shortfall, yellow, speed, link)
        for link, in_pos, _ in layout.links:
            green_in = sum(g[link] in GREEN for g in layout.greens)
            if green_in == 0 or (yellow_time is not None and green_in == len(layout.greens)):
                continue  # never green, or (agent control) never loses its green
            speed = float(layout.in_speed[in_pos])
            needed = speed / (2.0 * decel)
            yellow = yellow_time if yellow_time is not None else _program_yellow(layout, link)
            if yellow is None:
                continue  # the program never takes this link's green away
            if yellow < needed and (worst is None or needed - yellow > worst[0]):
                worst = (needed - yellow, yellow, speed, link)
        if worst is not None:
            _, yellow, speed, link = worst
            what = "no yellow (green straight to red)" if yellow <= 0 else f"yellow {yellow:g} s"
            warnings.append(
                f"signal '{sid}': {what} on link {link}, but {speed:.1f} m/s approaches need "
                f">= {speed / (2.0 * decel):.1f} s to stop at {decel:g} m/s²"
            )
    return warnings


def _program_yellow(layout: SignalLayout, link: int) -> float | None:
    """Shortest yellow the program shows ``link`` after a green; None if it never loses its green."""
    states, durations = layout.program_states, layout.program_durations
    n = len(states)
    shortest: float | None = None
    for p in range(n):
        if states[p][link] not in GREEN or states[(p + 1) % n][link] in GREEN:
            continue
        yellow, q = 0.0, (p + 1) % n
        for _ in range(n - 1):
            if states[q][link] not in "yY":
                break
            yellow += durations[q]
            q = (q + 1) % n
        shortest = yellow if shortest is None else min(shortest, yellow)
    return shortest
