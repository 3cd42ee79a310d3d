"""Scenario YAML → frozen, validated :class:`Scenario`.

The file is validated by the schema of :mod:`traffic_lam.experiments.schema` (its JSON
form is ``docs/scenario.schema.json``); every problem is reported as one line naming the
file, the key and what was expected (:class:`ScenarioError`). Paths inside a scenario
resolve relative to the scenario file. ``observation`` and ``reward`` take a name or
``{name: ..., args: {...}}``; a controller's ``args`` are checked against the controller.

Example::

    name: quickstart
    network: single-intersection        # bundled name, resco:<map>, or a path
    timing: {delta_time: 5, yellow_time: 2, min_green: 5, max_green: 50, begin: 0, end: 900}
    observation: default
    reward: diff-waiting-time
    controllers:
      - fixed-time                       # shorthand: name = type, no arguments
      - name: mp
        type: max-pressure
        args: {}
      - name: dqn
        type: dqn
        args: {learning_rate: 0.001}
        training: {episodes: 10}         # overrides the scenario's training section
    training: {episodes: 20, seed: 1000, num_envs: 1}
    evaluation: {seeds: [0, 1, 2], episodes: 1, ssm: false}
    replay: {seed: 0, end: 300, controllers: [dqn]}   # optional: a clip per controller in report.html
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from traffic_lam.errors import ConfigError
from traffic_lam.experiments.schema import Evaluation, Replay, ScenarioFile, Training
from traffic_lam.validation import one_line


class ScenarioError(ConfigError):
    """A scenario file is unreadable, has an unknown key, a wrong type or an impossible value."""


@dataclass(frozen=True)
class ControllerSpec:
    """One controller entry of a scenario.

    Attributes:
        name: label in results and plots (unique within the scenario).
        type: controller type (a name from the controller table, or ``module:Class``).
        args: keyword arguments for the controller.
        training: the training budget (the scenario's unless overridden).
    """

    name: str
    type: str
    args: dict[str, Any] = field(default_factory=dict)
    training: Training = field(default_factory=Training)


@dataclass(frozen=True)
class Scenario:
    """A validated scenario.

    Attributes:
        name: scenario name (defaults to the file stem).
        path: the scenario file (None when built in code).
        network: network argument for :func:`traffic_lam.make_env` (paths made absolute).
        route_file: optional route file override (absolute).
        env_options: keyword options for :func:`traffic_lam.make_env` (timing, observation ...).
        controllers: controllers to run, in order.
        training: default training budget.
        evaluation: evaluation seeds and episodes.
        description: free text.
        replay: the clips to record after evaluation (None: none).
    """

    name: str
    path: Path | None
    network: str
    route_file: str | None
    env_options: dict[str, Any]
    controllers: tuple[ControllerSpec, ...]
    training: Training
    evaluation: Evaluation
    description: str = ""
    replay: Replay | None = None


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario file.

    Raises:
        ScenarioError: one line naming the file, the key and what was expected.
    """
    path = Path(path)
    where = str(path)
    if not path.is_file():
        raise ScenarioError(f"{where}: scenario file not found")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" (line {mark.line + 1})" if mark is not None else ""
        raise ScenarioError(f"{where}: not valid YAML{line}") from None
    except OSError as exc:
        raise ScenarioError(f"{where}: cannot read ({exc.strerror})") from None
    return parse_scenario(data, where=where, base=path.parent, default_name=path.stem, path=path)


def parse_scenario(
    data: Any, *, where: str = "<scenario>", base: Path | None = None, default_name: str = "scenario",
    path: Path | None = None,
) -> Scenario:  # fmt: skip
    """Validate a scenario given as a mapping (see :func:`load_scenario`).

    Raises:
        ScenarioError: one line naming ``where``, the key and what was expected.
    """
    try:
        model = ScenarioFile.model_validate(data, context={"base": base or Path.cwd()})
    except ValidationError as exc:
        raise ScenarioError(one_line(exc, where)) from None
    controllers = tuple(
        ControllerSpec(entry.name, entry.type, dict(entry.args), _override(model.training, entry.training))
        for entry in model.controllers
    )
    return Scenario(
        name=model.name or default_name,
        path=path,
        network=model.network,
        route_file=model.route_file,
        env_options=model.env_options(),
        controllers=controllers,
        training=model.training,
        evaluation=model.evaluation,
        description=model.description,
        replay=model.replay,
    )


def _override(training: Training, own: Training | None) -> Training:
    """``training`` with the keys ``own`` sets (a controller's own ``training:``)."""
    if own is None:
        return training
    return training.model_copy(update={key: getattr(own, key) for key in own.model_fields_set})


__all__ = [
    "ControllerSpec",
    "Evaluation",
    "Replay",
    "Scenario",
    "ScenarioError",
    "Training",
    "load_scenario",
    "parse_scenario",
]
