"""Runtime state of one controlled traffic light: current green, transitions, timing rules.

The signal never talks to SUMO itself. :meth:`TrafficSignal.request` turns an action
into a schedule of ``(time, state)`` changes (yellow, optional all-red, new green) that
the environment applies at the right simulation steps; the environment also writes the
lane measurements the observations and rewards read.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from pydantic import Field, model_validator

from traffic_lam.signals.layout import SignalLayout
from traffic_lam.signals.phases import all_red_state, yellow_state
from traffic_lam.validation import Section, invalid, whole

_SECONDS = " (a whole number of seconds)"


class SignalTiming(Section):
    """Timing rules shared by all signals of an environment (seconds).

    The defaults here are the only timing defaults: :func:`traffic_lam.make_env`, the
    scenario schema and the command line read them from this class. Built with a bad
    value, it raises :class:`~traffic_lam.errors.ConfigError` (one line).

    Attributes:
        delta_time: time between two decisions; the transition runs inside it.
        yellow_time: yellow shown to links that lose their green.
        all_red_time: all-red clearance after the yellow (0 for none).
        min_green: a green is shown at least this long before it may change.
        max_green: a green shown this long must change (when there is another phase).
            It is enforced at decisions, so a green can overrun it by up to
            ``delta_time - 1`` s (see :class:`TrafficSignal`).

    """

    delta_time: whole(1, _SECONDS) = Field(5, description="seconds between two decisions; the transition runs inside")
    yellow_time: whole(0, _SECONDS) = Field(2, description="yellow shown to links that lose their green")
    all_red_time: whole(0, _SECONDS) = Field(0, description="all-red clearance after the yellow (0: none)")
    min_green: whole(0, _SECONDS) = Field(5, description="a green is shown at least this long")
    max_green: whole(1, _SECONDS) = Field(50, description="a green shown this long must change")

    @model_validator(mode="after")
    def _transition_fits(self) -> SignalTiming:
        transition = self.yellow_time + self.all_red_time
        if transition >= self.delta_time:
            raise invalid(
                f"yellow + all-red ({self.yellow_time} + {self.all_red_time} s) must be shorter than delta_time "
                f"({self.delta_time} s): the transition runs inside one decision step",
                at=".yellow_time",
            )
        if self.min_green > self.max_green:
            raise invalid(f"expected <= max_green ({self.max_green}), got {self.min_green}", at=".min_green")
        return self


LANE_QUANTITIES = ("vehicles", "halting", "waiting", "accumulated_waiting", "mean_speed")
"""Per-lane quantities a measurement source provides (see :class:`LaneMeasurements`).

A source also answers ``"<q>@<d>"`` for ``q`` one of :data:`RANGE_QUANTITIES`: the
quantity restricted to a detector of range ``d`` at the stop line (the last ``d`` metres
of each lane, and, on an incoming lane shorter than ``d``, the road it continues up to
``d`` from the stop line)."""

RANGE_QUANTITIES = ("vehicles", "halting", "accumulated_waiting", "time_loss")
"""Quantities a source measures over a detector range (``"<q>@<d>"``). ``time_loss`` is
the time loss (s) the vehicles in range accrued since the previous decision."""

SIGNAL_QUANTITIES = ("backlog", "backlog_waiting", "backlog_time_loss")
"""Per-signal quantities of the insertion backlog (see :attr:`LaneMeasurements.backlog`)."""


class LaneMeasurements:
    """A signal's lane measurements at the last decision.

    Each quantity is read from the simulation the first time anybody asks for it
    during a decision step, so observations and rewards pay only for what they use.

    Args:
        fetch: ``fetch(quantity) -> array`` over the engine's lane list (cached by the
            engine per decision), quantity one of :data:`LANE_QUANTITIES`.
        in_index: positions of the signal's incoming lanes in that list.
        out_index: positions of its outgoing lanes.
        per_signal: ``per_signal(quantity) -> array`` over the engine's signals, quantity
            one of :data:`SIGNAL_QUANTITIES`; None: no backlog (all zero).
        position: this signal's position in that array.

    """

    __slots__ = ("_fetch", "_in", "_out", "_per_signal", "_position")

    def __init__(
        self,
        fetch: Callable[[str], np.ndarray],
        in_index: np.ndarray,
        out_index: np.ndarray,
        per_signal: Callable[[str], np.ndarray] | None = None,
        position: int = 0,
    ) -> None:
        self._fetch, self._in, self._out = fetch, in_index, out_index
        self._per_signal, self._position = per_signal, position

    @classmethod
    def empty(cls, layout: SignalLayout) -> LaneMeasurements:
        """Measurements of an empty network (before the first reset)."""
        n = len(layout.in_lanes) + len(layout.out_lanes)
        speeds = np.concatenate([np.asarray(layout.in_speed, float), np.zeros(len(layout.out_lanes))])

        def fetch(quantity: str) -> np.ndarray:
            return speeds if quantity == "mean_speed" else np.zeros(n)

        n_in = len(layout.in_lanes)
        return cls(fetch, np.arange(n_in), np.arange(n_in, n))

    @property
    def source(self) -> Callable[[str], np.ndarray]:
        """``source(quantity)``: the quantity over the source's whole lane list (shared by an engine's signals)."""
        return self._fetch

    @property
    def in_index(self) -> np.ndarray:
        """Positions of the incoming lanes in the source's lane list."""
        return self._in

    @property
    def in_vehicles(self) -> np.ndarray:
        """Vehicles on each incoming lane."""
        return self._fetch("vehicles")[self._in]

    @property
    def in_halting(self) -> np.ndarray:
        """Halting vehicles (speed < 0.1 m/s) on each incoming lane."""
        return self._fetch("halting")[self._in]

    @property
    def in_waiting(self) -> np.ndarray:
        """Summed current waiting time (s: since each vehicle last moved) on each incoming lane."""
        return self._fetch("waiting")[self._in]

    @property
    def in_accumulated_waiting(self) -> np.ndarray:
        """Summed accumulated waiting time (s, over SUMO's waiting-time memory) on each incoming lane."""
        return self._fetch("accumulated_waiting")[self._in]

    @property
    def in_mean_speed(self) -> np.ndarray:
        """Mean speed (m/s) on each incoming lane (its speed limit when empty)."""
        return self._fetch("mean_speed")[self._in]

    @property
    def out_vehicles(self) -> np.ndarray:
        """Vehicles on each outgoing lane."""
        return self._fetch("vehicles")[self._out]

    @property
    def out_halting(self) -> np.ndarray:
        """Halting vehicles on each outgoing lane."""
        return self._fetch("halting")[self._out]

    def in_vehicles_near(self, distance: float) -> np.ndarray:
        """Vehicles within ``distance`` m of the stop line on each incoming lane (queued + approaching)."""
        return self._fetch(f"vehicles@{float(distance):g}")[self._in]

    def in_halting_near(self, distance: float) -> np.ndarray:
        """Halting vehicles within ``distance`` m of the stop line on each incoming lane."""
        return self._fetch(f"halting@{float(distance):g}")[self._in]

    def out_halting_near(self, distance: float) -> np.ndarray:
        """Halting vehicles within ``distance`` m of the end of each outgoing lane."""
        return self._fetch(f"halting@{float(distance):g}")[self._out]

    def out_vehicles_near(self, distance: float) -> np.ndarray:
        """Vehicles within ``distance`` m of the end of each outgoing lane."""
        return self._fetch(f"vehicles@{float(distance):g}")[self._out]

    def in_accumulated_waiting_near(self, distance: float) -> np.ndarray:
        """Summed accumulated waiting time (s) of the vehicles within ``distance`` m of each incoming stop line."""
        return self._fetch(f"accumulated_waiting@{float(distance):g}")[self._in]

    def in_time_loss_near(self, distance: float) -> np.ndarray:
        """Time loss (s) accrued since the previous decision by the vehicles within ``distance`` m of each stop line.

        A vehicle counts on the lane it is on now, with all the time loss it accrued
        since the previous decision (SUMO's ``timeLoss``: time lost against driving at
        the allowed speed); one inserted since then counts from its insertion.
        """
        return self._fetch(f"time_loss@{float(distance):g}")[self._in]

    def _signal_value(self, quantity: str) -> float:
        return 0.0 if self._per_signal is None else float(self._per_signal(quantity)[self._position])

    @property
    def backlog(self) -> float:
        """Vehicles waiting to enter the network (insertion backlog) whose route first reaches this signal.

        A vehicle whose depart time has come but that SUMO could not insert (its entry
        lane is full) counts against the first controlled signal on its route.
        """
        return self._signal_value("backlog")

    @property
    def backlog_waiting(self) -> float:
        """Summed seconds the backlog's vehicles have waited to enter (their depart delay so far)."""
        return self._signal_value("backlog_waiting")

    @property
    def backlog_time_loss(self) -> float:
        """Seconds of entry delay the backlog's vehicles accrued since the previous decision."""
        return self._signal_value("backlog_time_loss")


@dataclass
class TrafficSignal:
    """One controlled traffic light.

    Max green is enforced at decisions, not between them: a green that reaches
    ``max_green`` inside a decision interval keeps showing until the next decision,
    where it must change. A green starts ``yellow_time + all_red_time`` s after a
    decision (at the episode's begin for the first), so one that is forced to change
    lasts the smallest ``k * delta_time - yellow_time - all_red_time`` (``k *
    delta_time`` for the first) that is ``>= max_green``: it overruns ``max_green`` by
    at most ``delta_time - 1`` s (all timings are whole seconds). Under
    ``control="program"`` SUMO's programs keep their own limits.

    Public bookkeeping (read by observations, rewards and controllers):

    Attributes:
        layout: static description (phases, lanes, links).
        timing: timing rules.
        green: index of the current green, or of the green being switched to during a
            transition.
        green_since: simulation time at which ``green`` started to show (after the
            transition); in the future while a transition runs.
        lanes: lane measurements at the last decision.
        now: simulation time of the last decision (set by the environment).
        corrected: whether the last requested action was outside the mask and replaced.
        shown_until: per green, the decision time at which it last stopped showing
            (``-inf``: not since the episode began; the current green's entry is stale).

    """

    layout: SignalLayout
    timing: SignalTiming
    green: int = 0
    green_since: float = 0.0
    lanes: LaneMeasurements = field(init=False)
    now: float = 0.0
    corrected: bool = False
    shown_until: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.lanes = LaneMeasurements.empty(self.layout)
        self.shown_until = np.full(self.num_greens, -np.inf)
        self._in_capacity = np.asarray(self.layout.in_capacity, dtype=float)
        self._out_capacity = np.asarray(self.layout.out_capacity, dtype=float)
        self._in_inverse_capacity = 1.0 / self._in_capacity
        self._green_links = [
            (np.array([i for _, i, _ in links], dtype=int), np.array([o for _, _, o in links], dtype=int))
            for links in (self.layout.green_links(g) for g in range(self.num_greens))
        ]
        self.links_per_green = np.array([max(1, len(i)) for i, _ in self._green_links], dtype=float)
        self._transitions: dict[tuple[int, int], tuple[tuple[int, str], ...]] = {}

    @property
    def id(self) -> str:
        """Traffic light id."""
        return self.layout.id

    @property
    def num_greens(self) -> int:
        """Number of green phases (actions)."""
        return self.layout.num_greens

    def reset(self, now: float) -> str:
        """Start the episode on green 0 at time ``now``; return the state to set in SUMO."""
        self.green = 0
        self.green_since = now
        self.now = now
        self.corrected = False
        self.shown_until = np.full(self.num_greens, -np.inf)
        self.lanes = LaneMeasurements.empty(self.layout)
        return self.layout.greens[0]

    def time_in_green(self) -> float:
        """Seconds the current green has been showing (negative during a transition)."""
        return self.now - self.green_since

    def staleness(self) -> np.ndarray:
        """Per green, how long ago it last showed, as its rank in [0, 1]: 0 now, 1 longest ago.

        Greens are ordered by :attr:`shown_until` (the current green last, greens not
        shown yet first, lower index first): the order in which
        :func:`~traffic_lam.controllers.base.best_allowed` rotates tied greens, so a
        policy reading it can tell which of two equal queues the classic controllers serve.
        """
        n = self.num_greens
        until = self.shown_until.copy()
        until[self.green] = np.inf
        order = np.lexsort((np.arange(n), until))  # least recently shown first
        out = np.zeros(n, dtype=np.float32)
        if n > 1:
            out[order] = (n - 1 - np.arange(n)) / (n - 1)
        return out

    def min_green_passed(self) -> bool:
        """Whether the current green has been shown for at least ``min_green``."""
        return self.time_in_green() >= self.timing.min_green

    def action_mask(self) -> np.ndarray:
        """Mask (int8, 1 = allowed) over the green phases that may be chosen now.

        During min green only the current green is allowed; once max green is
        reached the current green is not allowed (if there is another). Checked at
        decisions only, hence the overrun bound of :class:`TrafficSignal`.
        """
        shown = self.time_in_green()
        if shown < self.timing.min_green:
            mask = np.zeros(self.num_greens, dtype=np.int8)
            mask[self.green] = 1
        else:
            mask = np.ones(self.num_greens, dtype=np.int8)
            if shown >= self.timing.max_green and self.num_greens > 1:  # a lone green stays allowed
                mask[self.green] = 0
        return mask

    def request(self, action: int) -> list[tuple[float, str]]:
        """Apply an action at the current decision time ``now``.

        Actions outside the mask are corrected rather than refused (``corrected`` is
        set): during min green the current green is kept; at max green the next green
        in program order replaces the current one.

        Args:
            action: index of the green phase wanted.

        Returns:
            The state changes ``(time, state)`` to apply, in time order (empty when
            the current green is kept).

        """
        action = int(action)
        if not 0 <= action < self.num_greens:
            raise ValueError(f"signal '{self.id}': action {action} outside 0..{self.num_greens - 1}")
        mask = self.action_mask()
        self.corrected = not mask[action]
        if self.corrected:
            action = self.green if mask[self.green] else (self.green + 1) % self.num_greens
        if action == self.green:
            return []
        transition = self._transition(self.green, action)
        self.shown_until[self.green] = self.now
        self.green = action
        self.green_since = self.now + transition[-1][0]
        return [(self.now + offset, state) for offset, state in transition]

    def _transition(self, current: int, target: int) -> tuple[tuple[int, str], ...]:
        """``(offset, state)`` steps from green ``current`` to green ``target`` (cached)."""
        key = (current, target)
        if key not in self._transitions:
            a, b = self.layout.greens[current], self.layout.greens[target]
            steps: list[tuple[int, str]] = []
            offset = 0
            if self.timing.yellow_time > 0:
                steps.append((offset, yellow_state(a, b)))
                offset += self.timing.yellow_time
            if self.timing.all_red_time > 0:
                steps.append((offset, all_red_state(a, b)))
                offset += self.timing.all_red_time
            steps.append((offset, b))
            self._transitions[key] = tuple(steps)
        return self._transitions[key]

    def pressure_per_green(self) -> np.ndarray:
        """Pressure of each green phase.

        The sum over the phase's green links of incoming vehicles / capacity minus
        outgoing vehicles / capacity.
        """
        inn = self.lanes.in_vehicles / self._in_capacity
        out = self.lanes.out_vehicles / self._out_capacity
        return np.array([inn[i].sum() - out[o].sum() for i, o in self._green_links])

    def queue(self) -> float:
        """Halting vehicles on the incoming lanes."""
        return float(self.lanes.in_halting.sum())

    def waiting_time(self) -> float:
        """Summed current waiting time (s) of the vehicles on the incoming lanes."""
        return float(self.lanes.in_waiting.sum())

    def accumulated_waiting_time(self) -> float:
        """Summed accumulated waiting time (s) of the vehicles on the incoming lanes (sumo-rl's measure)."""
        return float(self.lanes.in_accumulated_waiting.sum())

    def density(self) -> np.ndarray:
        """Vehicles per incoming lane divided by the lane's capacity, clipped to [0, 1]."""
        return np.minimum(1.0, self.lanes.in_vehicles * self._in_inverse_capacity)

    def queue_density(self) -> np.ndarray:
        """Halting vehicles per incoming lane divided by its capacity, clipped to [0, 1]."""
        return np.minimum(1.0, self.lanes.in_halting * self._in_inverse_capacity)
