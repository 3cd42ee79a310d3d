"""Green phases and the transitions between them, from SUMO signal state strings.

SUMO state characters: ``G`` priority green, ``g`` permissive green, ``y`` yellow,
``r`` red, ``s`` green right-turn-on-red (stop first), ``u`` red-yellow, ``o`` / ``O``
off (blinking / no signal).
"""

from __future__ import annotations

from collections.abc import Sequence

from traffic_lam.errors import SignalError

GREEN = frozenset("Gg")
TRANSITIONAL = frozenset("yu")
RED = frozenset("rs")


def is_green_phase(state: str) -> bool:
    """Whether a program phase is a green phase an agent may choose.

    A green phase gives at least one link green and has no yellow/red-yellow link
    (those are transitions, which we build ourselves).
    """
    return any(c in GREEN for c in state) and not any(c in TRANSITIONAL for c in state)


def green_phases(states: Sequence[str], signal_id: str) -> tuple[str, ...]:
    """Distinct green phases of a program, in program order.

    Args:
        states: the state strings of every phase of the program.
        signal_id: traffic light id, for error messages.

    Returns:
        The distinct green states; yellow, red-yellow and all-red phases are dropped.

    Raises:
        SignalError: if the program has fewer than two distinct green phases, so
            there is nothing to choose between.

    """
    if not states:
        raise SignalError(f"traffic light '{signal_id}': program has no phases")
    lengths = {len(s) for s in states}
    if len(lengths) != 1:
        raise SignalError(f"traffic light '{signal_id}': phases have different lengths {sorted(lengths)}")
    greens: list[str] = []
    for state in states:
        if is_green_phase(state) and state not in greens:
            greens.append(state)
    if len(greens) < 2:
        raise SignalError(
            f"traffic light '{signal_id}': program has {len(greens)} distinct green phase(s), "
            "at least 2 are needed to control it"
        )
    return tuple(greens)


def yellow_state(current: str, target: str) -> str:
    """Yellow state between two greens: links losing their green turn yellow.

    A link that is green in both phases stays green; every other link keeps its
    current (red / stop / off) state.
    """
    return "".join("y" if a in GREEN and b not in GREEN else a for a, b in zip(current, target, strict=True))


def all_red_state(current: str, target: str) -> str:
    """All-red clearance state: only links green in both phases keep their green."""
    return "".join(
        a if a in GREEN and b in GREEN else ("O" if a == "O" else "r") for a, b in zip(current, target, strict=True)
    )
