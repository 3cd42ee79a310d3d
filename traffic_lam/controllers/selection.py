"""Model selection by the score during training, and a guard against reward hacking.

A learner is trained on its reward, but judged by the score (delay, ``docs/definitions.md``).
Every ``validate_every`` training episodes of its budget, and once when training ends, a
:class:`Validator` evaluates the learner's current policy as evaluation would (a copy of
it, saved and loaded back, run by :func:`traffic_lam.evaluate` in this process: greedy,
one episode per validation seed, the training's environment options) and keeps the policy
of the lowest mean validation delay: the *selected* policy (ties: the earlier one).

What it writes:

* ``<checkpoint_dir>/selected/model`` (+ ``model.json`` for a learner with an artefact):
  the selected policy, a unit written, committed and verified like a checkpoint
  (:mod:`traffic_lam.controllers.checkpoints`; read it with :func:`selected_model`);
* ``<curve>.validation.csv`` beside the learning curve: a row per validation
  (:class:`Validation`: ``episode``, ``delay_s``, ``throughput_per_h``,
  ``vehicles_not_inserted``, ``return``: the training return averaged over the episodes
  since the previous validation, and ``selected``: the row of the selected policy);
* in the curve rows: ``validation_delay_s`` on each validated episode and ``selected``
  (True on the selected episode's row, False on the other validated rows so far);
* ``<curve>.warnings.json``: the reward-hacking warning (:func:`reward_hacking`), if any.

A training checkpoint holds the validations so far (``progress.json``'s ``extra``) and a copy
of the selected policy (:data:`CHECKPOINT_COPY`): a resumed training continues with the
same best-so-far, and rewrites ``selected/`` and the validation file from them. After
training, the learner's ``selection`` (:class:`Selection`) holds the selected policy in
memory, with or without a checkpoint folder.
"""

from __future__ import annotations

import json
import math
import statistics
import tempfile
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from traffic_lam.controllers import checkpoints
from traffic_lam.controllers.budget import TrainingBudget
from traffic_lam.files import atomic_write_text, schema_path, write_csv

if TYPE_CHECKING:
    from traffic_lam.controllers.base import Controller
    from traffic_lam.controllers.checkpoints import Resumed
    from traffic_lam.env.factory import EnvFactory

SELECTED = "selected"
"""Folder of the selected policy in the budget's ``checkpoint_dir``."""
MODEL = "model"
"""File name of the selected policy in that folder (a saved controller)."""
CHECKPOINT_COPY = "selected.model"
"""File name of the selected policy's copy in a training checkpoint."""
VALIDATION_SUFFIX = ".validation.csv"
"""``curves/ppo.csv`` -> ``curves/ppo.validation.csv``: the validations beside the curve."""
WARNINGS_SUFFIX = ".warnings.json"
"""``curves/ppo.csv`` -> ``curves/ppo.warnings.json``: the training's warnings beside the curve."""
MIN_VALIDATIONS = 3
"""Validations :func:`reward_hacking` needs (with two, one early step of a noisy training decides)."""
MIN_CURVE_EPISODES = 10
"""Training episodes :func:`reward_hacking_in_training` needs."""
INSERTION_RISE = 10.0
"""Vehicles never inserted that must be added before the guard counts it as worse (fewer is noise)."""
DELAY_RISE = 0.10
"""The relative rise of the validation delay that counts as worse for :func:`reward_hacking`."""
NOT_SCORED = ("control", "observation", "reward")
"""Training options validation does not pass on: the controller sets its own, scoring reads no reward."""


class RewardHackingWarning(UserWarning):
    """The training return improved while the validation score worsened (:func:`reward_hacking`)."""


@dataclass(frozen=True)
class Validation:
    """One validation of a policy during training.

    Attributes:
        episode: training episodes done when it was validated.
        delay_s: mean delay over the validation seeds (s).
        throughput_per_h: mean throughput (vehicles/h).
        vehicles_not_inserted: mean vehicles never inserted.
        training_return: mean training return of the episodes since the previous validation.
    """

    episode: int
    delay_s: float
    throughput_per_h: float
    vehicles_not_inserted: float
    training_return: float

    def row(self, selected: bool) -> dict[str, Any]:
        """The row of ``validation.csv`` (``selected``: it is the selected policy's)."""
        return {"episode": self.episode, "delay_s": self.delay_s, "throughput_per_h": self.throughput_per_h,
                "vehicles_not_inserted": self.vehicles_not_inserted, "training_return": self.training_return,
                "selected": selected}  # fmt: skip

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Validation:
        """The validation :meth:`row` wrote."""
        return cls(int(row["episode"]), float(row["delay_s"]), float(row["throughput_per_h"]),
                   float(row["vehicles_not_inserted"]), float(row["training_return"]))  # fmt: skip


@dataclass(frozen=True)
class Selection:
    """What validation kept from a training.

    Attributes:
        controller: the selected policy (a loaded copy of the learner as it was then).
        episode: training episodes done when it was validated.
        delay_s: its mean validation delay.
        final_episode: training episodes done at the end.
        validations: every validation, in order.
        warning: the reward-hacking warning (:func:`reward_hacking`), or None.
    """

    controller: Controller
    episode: int
    delay_s: float
    final_episode: int
    validations: tuple[Validation, ...]
    warning: str | None = None

    @property
    def is_final(self) -> bool:
        """Whether the selected policy is the final one (the validation at the end was the best)."""
        return self.episode == self.final_episode


def validation_file(curve_file: str | Path) -> Path:
    """The validation CSV beside a learning curve (:data:`VALIDATION_SUFFIX`)."""
    path = Path(curve_file)
    return path.with_name(path.stem + VALIDATION_SUFFIX)


def warnings_file(curve_file: str | Path) -> Path:
    """The warnings JSON beside a learning curve (:data:`WARNINGS_SUFFIX`)."""
    path = Path(curve_file)
    return path.with_name(path.stem + WARNINGS_SUFFIX)


def read_warnings(path: str | Path) -> list[str]:
    """The warnings in a file :data:`WARNINGS_SUFFIX` names (none when it is missing or unreadable)."""
    try:
        document = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return []
    found = document.get("warnings") if isinstance(document, dict) else None
    return [str(w) for w in found] if isinstance(found, list) else []


def selected_model(checkpoint_dir: str | Path) -> Path | None:
    """The selected policy saved in a checkpoint folder (every file verified), or None when there is none.

    Raises:
        ControllerError: a file of it does not match its manifest.
    """
    found = checkpoints.open_checkpoint(Path(checkpoint_dir) / SELECTED)
    return found.file(MODEL) if found is not None and found.has(MODEL) else None


def reward_hacking(validations: Sequence[Validation], name: str) -> str | None:
    """The warning when the training return improved while the validation score worsened; None otherwise.

    The rule compares the first validation with the last one (:data:`MIN_VALIDATIONS`, 3,
    validations at least): it fires when the training return rose (the mean return of the episodes before the
    last validation is higher than that before the first one) while the validation delay
    rose by more than :data:`DELAY_RISE` (10 %), or while more than :data:`INSERTION_RISE`
    (10) more vehicles were never inserted and the delay did not fall. It never fires when the delay and the vehicles
    never inserted did not rise, however the return moved.
    """
    validations = [v for v in validations if math.isfinite(v.training_return)]  # not the start's (episode 0)
    if len(validations) < MIN_VALIDATIONS:
        return None
    first, last = validations[0], validations[-1]
    if last.training_return <= first.training_return:
        return None
    if last.delay_s > (1.0 + DELAY_RISE) * first.delay_s:
        worse = f"validation delay rose from {first.delay_s:.1f} to {last.delay_s:.1f} s"
    elif last.vehicles_not_inserted > first.vehicles_not_inserted + INSERTION_RISE and last.delay_s >= first.delay_s:
        worse = (f"vehicles never inserted in validation rose from {first.vehicles_not_inserted:g} to "
                 f"{last.vehicles_not_inserted:g}")  # fmt: skip
    else:
        return None
    return (
        f"{name}: return rose from {first.training_return:.0f} to {last.training_return:.0f} while {worse} "
        f"over episodes {first.episode}-{last.episode}: the reward may not measure what the score does"
    )


def reward_hacking_in_training(curve: Sequence[Mapping[str, Any]], name: str) -> str | None:
    """The same rule on the learning curve: the training episodes' own return and delay.

    Compares the median return and delay of the first :func:`curve_window` episodes with
    those of the last ones (at least :data:`MIN_CURVE_EPISODES` episodes with a delay):
    fires when the return rose while the delay rose by more than :data:`DELAY_RISE`, or
    while more than :data:`INSERTION_RISE` more vehicles were never inserted and the delay
    did not fall. A policy can find
    the hole in its reward before the first validation (every validation then sees the
    hack, none sees it grow); its training episodes, exploring from scratch, still show it.
    """
    rows = [r for r in curve if _number(r.get("delay_s")) is not None and _number(r.get("return")) is not None]
    if len(rows) < MIN_CURVE_EPISODES:
        return None
    window = curve_window(len(rows))
    head, tail = rows[:window], rows[-window:]

    def median(part: Sequence[Mapping[str, Any]], key: str) -> float:
        return statistics.median(_number(r.get(key)) or 0.0 for r in part)

    first_return, last_return = median(head, "return"), median(tail, "return")
    first_delay, last_delay = median(head, "delay_s"), median(tail, "delay_s")
    if last_return <= first_return:
        return None
    if last_delay > (1.0 + DELAY_RISE) * first_delay:
        worse = f"the training episodes' delay rose from {first_delay:.1f} to {last_delay:.1f} s"
    elif (
        median(tail, "vehicles_not_inserted") > median(head, "vehicles_not_inserted") + INSERTION_RISE
        and last_delay >= first_delay
    ):
        worse = (f"the training episodes' vehicles never inserted rose from {median(head, 'vehicles_not_inserted'):g} "
                 f"to {median(tail, 'vehicles_not_inserted'):g}")  # fmt: skip
    else:
        return None
    return (
        f"{name}: return rose from {first_return:.0f} to {last_return:.0f} (median of the first and last {window} "
        f"episodes) while {worse}: the reward may not measure what the score does"
    )


def curve_window(episodes: int) -> int:
    """Episodes at each end of a learning curve that :func:`reward_hacking_in_training` compares."""
    return max(3, episodes // 8)


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number == number else None  # NaN: no value


def snapshot(controller: Controller) -> Controller:
    """A copy of ``controller`` as it is now: saved and loaded back (trained, as a loaded controller is)."""
    from traffic_lam.controllers import load

    with tempfile.TemporaryDirectory(prefix="traffic_lam-snapshot-") as folder:
        return load(controller.save(Path(folder) / MODEL))


class Validator:
    """Validates a learner during its training and keeps the best policy (see the module).

    Args:
        controller: the learner (validated through a copy: it is never touched).
        factory: the training environments' recipe (network and options).
        budget: the training budget (``validate_every``, ``validation_seeds``, where to write).
        resumed: the training checkpoint resumed from (its validations and selected policy).
    """

    def __init__(
        self, controller: Controller, factory: EnvFactory, budget: TrainingBudget, resumed: Resumed | None = None
    ) -> None:
        self.controller, self.factory, self.budget = controller, factory, budget
        self.validations: list[Validation] = []
        self.selected: Controller | None = None
        if resumed is not None:
            self.validations = [Validation.from_row(r) for r in resumed.extra.get("validation", [])]
            if self.validations and resumed.has(CHECKPOINT_COPY):
                from traffic_lam.controllers import load

                self.selected = load(resumed.file(CHECKPOINT_COPY))
                self._write_selected()
        self._write_validations()

    @property
    def name(self) -> str:
        """Who the warnings name: the curve file's stem (a scenario's label), else the controller's name."""
        return self.budget.curve_file.stem if self.budget.curve_file is not None else self.controller.name

    @property
    def best(self) -> Validation | None:
        """The validation of the selected policy (lowest delay; the earliest of equal ones)."""
        return min(self.validations, key=lambda v: v.delay_s) if self.validations else None

    def due(self, episodes: int) -> bool:
        """Whether the policy after ``episodes`` training episodes is to be validated (every ``validate_every``)."""
        every = self.budget.validate_every
        return bool(every) and episodes % every == 0

    def validate(self, curve: list[dict[str, Any]]) -> Validation:
        """Validate the learner's policy now (after the curve's last episode); keep it if it is the best so far.

        Marks the curve rows (``validation_delay_s``, ``selected``) and rewrites the curve and
        validation files.
        """
        episode = int(curve[-1]["episode"]) if curve else 0
        candidate = snapshot(self.controller)
        scores = [self._score(candidate, seed) for seed in self.budget.validation_seeds]
        before = self.validations[-1].episode if self.validations else 0
        returns = [float(r["return"]) for r in curve if before < int(r["episode"]) <= episode]
        validation = Validation(
            episode,
            statistics.fmean(s["delay_s"] for s in scores),
            statistics.fmean(s["throughput_per_h"] for s in scores),
            statistics.fmean(s["vehicles_not_inserted"] for s in scores),
            statistics.fmean(returns) if returns else float("nan"),
        )
        best = self.best
        self.validations.append(validation)
        if best is None or validation.delay_s < best.delay_s:
            self.selected = candidate
            self._write_selected()
        self._mark(curve)
        self._write_validations()
        if self.budget.curve_file is not None and curve:
            write_csv(self.budget.curve_file, curve)
        return validation

    def validate_start(self) -> Validation | None:
        """Validate the policy a learner starts from, before its first training episode (episode 0).

        For a warm-started learner (:mod:`traffic_lam.imitation.warm_start`): its warm start
        competes in the selection like any later policy, so what is reported is never a policy
        that validates worse than the imitation it began with. Nothing when the budget never
        validates or a validation exists already (a resumed training). Its training return is NaN
        (no episode before it); :func:`reward_hacking` compares the validations after it.
        """
        if not self.budget.validate_every or self.validations:
            return None
        return self.validate([])

    def finish(self, curve: list[dict[str, Any]]) -> Selection | None:
        """End of training: validate the final policy (unless just done), check for reward hacking.

        The check is :func:`reward_hacking` on the validations, then
        :func:`reward_hacking_in_training` on the learning curve.

        The warning, if any, is issued once (:class:`RewardHackingWarning`) and written
        beside the curve. Returns the selection (None when the budget never validates).
        """
        if not self.budget.validate_every or not curve:
            return None
        if not self.validations or self.validations[-1].episode != int(curve[-1]["episode"]):
            self.validate(curve)
        warning = reward_hacking(self.validations, self.name) or reward_hacking_in_training(curve, self.name)
        if self.budget.curve_file is not None:
            path = warnings_file(self.budget.curve_file)
            if warning is None:
                path.unlink(missing_ok=True)
            else:
                atomic_write_text(path, json.dumps({"controller": self.name, "warnings": [warning]}) + "\n")
        if warning is not None:
            warnings.warn(warning, RewardHackingWarning, stacklevel=2)
        best = self.best
        assert best is not None and self.selected is not None
        return Selection(self.selected, best.episode, best.delay_s, int(curve[-1]["episode"]),
                         tuple(self.validations), warning)  # fmt: skip

    def extra(self) -> dict[str, Any]:
        """What a training checkpoint's ``progress.json`` keeps of the validations (its ``extra``)."""
        best = self.best
        return {"validation": [v.row(v is best) for v in self.validations]}

    def save_selected(self, staging: Path) -> None:
        """Write the selected policy's copy into a training checkpoint being written (nothing before one)."""
        if self.selected is not None:
            self.selected.save(staging / CHECKPOINT_COPY)

    def _score(self, candidate: Controller, seed: int) -> dict[str, float]:
        """Delay, throughput and vehicles never inserted of one validation episode of ``candidate``."""
        from traffic_lam.evaluation import evaluate

        options = {k: v for k, v in self.factory.options.items() if k not in NOT_SCORED}
        with warnings.catch_warnings():  # said by evaluation itself; not at every validation
            warnings.filterwarnings("ignore", message=r".* with a short yellow")
            (record,) = evaluate(self.factory.network, candidate, episodes=1, seed=seed, **options)
        delay = float("inf") if record.avg_delay is None else float(record.avg_delay)  # no vehicle: never the best
        return {"delay_s": delay, "throughput_per_h": float(record.throughput_per_h),
                "vehicles_not_inserted": float(record.vehicles_not_inserted)}  # fmt: skip

    def _mark(self, curve: list[dict[str, Any]]) -> None:
        """Put each validation's delay on its curve row, and ``selected`` on the validated rows."""
        best = self.best
        delays = {v.episode: v.delay_s for v in self.validations}
        for row in curve:
            episode = int(row["episode"])
            if episode in delays:
                row["validation_delay_s"] = delays[episode]
                row["selected"] = best is not None and episode == best.episode

    def _write_selected(self) -> None:
        """Write the selected policy into ``<checkpoint_dir>/selected`` as one unit (nothing without the folder)."""
        best, folder = self.best, self.budget.checkpoint_dir
        if folder is None or best is None or self.selected is None:
            return
        selected = self.selected
        checkpoints.write_checkpoint(folder / SELECTED, lambda staging: selected.save(staging / MODEL), best.episode,
                                     [], {"validation": best.row(True)})  # fmt: skip

    def _write_validations(self) -> None:
        """Rewrite the validation file beside the curve (removed while there is no validation)."""
        if self.budget.curve_file is None:
            return
        path = validation_file(self.budget.curve_file)
        if self.validations:
            best = self.best
            write_csv(path, [v.row(v is best) for v in self.validations])
        else:
            path.unlink(missing_ok=True)
            schema_path(path).unlink(missing_ok=True)
