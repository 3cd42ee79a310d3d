"""Where a training loop's time goes, measured from the outside through the loop's callback."""

from __future__ import annotations

import time

from traffic_lam.controllers.offpolicy.loop import LoopCallback


class Profiler(LoopCallback):
    """Accumulates the training loop's time over every :func:`~traffic_lam.controllers.offpolicy.train` it watches.

    Attributes:
        wall_s: wall time of the loops (worker start-up, resume and the final checkpoint excluded).
        learner_s: the learner's own work in them, wall clock: action choice, stacking, updates,
            gradient steps (also those that overlap the simulations' stepping) and bookkeeping,
            not file writes.
        learner_cpu_s: the same in CPU seconds of this process (does not grow while a busy
            machine deschedules it).
        waiting_s: time spent waiting for the simulations' replies (what is left of
            ``wall_s`` is the time the simulations wait for this process).
        simulated_s: simulated seconds, summed over the parallel simulations.
    """

    def __init__(self) -> None:
        self.wall_s = self.learner_s = self.learner_cpu_s = self.waiting_s = self.simulated_s = 0.0
        self._started = self._tick = self._cpu_tick = self._waiting = 0.0

    @property
    def learner_share(self) -> float:
        """The learner's share of the loops' wall time (0 before any loop)."""
        return self.learner_s / self.wall_s if self.wall_s > 0 else 0.0

    def as_dict(self) -> dict[str, float]:
        """The five totals by name (``wall_s`` ... ``simulated_s``)."""
        names = ("wall_s", "learner_s", "learner_cpu_s", "waiting_s", "simulated_s")
        return {name: getattr(self, name) for name in names}

    def on_training_start(self) -> None:
        """Start the wall clock."""
        self._started = time.perf_counter()

    def on_step_start(self) -> None:
        """The learner starts choosing."""
        self._tick, self._cpu_tick = time.perf_counter(), time.process_time()

    def on_wait_start(self) -> None:
        """The learner is done until the simulations reply."""
        self._waiting = time.perf_counter()
        self.learner_s += self._waiting - self._tick
        self.learner_cpu_s += time.process_time() - self._cpu_tick

    def on_wait_end(self) -> None:
        """The simulations replied; the learner works again."""
        self._tick, self._cpu_tick = time.perf_counter(), time.process_time()
        self.waiting_s += self._tick - self._waiting

    def on_step_end(self, simulated_s: float) -> None:
        """The learner has learned from the step (what follows is file writes)."""
        self.learner_s += time.perf_counter() - self._tick
        self.learner_cpu_s += time.process_time() - self._cpu_tick
        self.simulated_s += simulated_s

    def on_training_end(self) -> None:
        """Stop the wall clock."""
        self.wall_s += time.perf_counter() - self._started
