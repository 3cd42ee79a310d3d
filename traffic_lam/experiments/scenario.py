"""Scenario YAML → frozen, validated :class:`Scenario`.

Every problem is reported as one line naming the file, the key and what was expected
(:class:`ScenarioError`). Paths inside a scenario resolve relative to the scenario file.

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
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from traffic_lam.errors import ConfigError

TOP_KEYS = {
    "name", "description", "network", "route_file", "timing", "observation", "reward",
    "sumo_options", "controllers", "training", "evaluation", "backend", "time_to_teleport",
}  # fmt: skip
TIMING_KEYS = {"delta_time", "yellow_time", "all_red_time", "min_green", "max_green", "begin", "end"}
TRAINING_KEYS = {"episodes", "seed", "num_envs", "checkpoint_every"}
EVALUATION_KEYS = {"seeds", "episodes", "ssm"}
CONTROLLER_KEYS = {"name", "type", "args", "training"}


class ScenarioError(ConfigError):
    """A scenario file is unreadable, has an unknown key, a wrong type or an impossible value."""


@dataclass(frozen=True)
class Training:
    """Training budget for learning controllers.

    Attributes:
        episodes: training episodes (of the scenario's length).
        seed: first SUMO seed used in training (evaluation seeds stay separate).
        num_envs: parallel simulations feeding the learner.
        checkpoint_every: save a checkpoint every this many episodes (0: only at the end).
    """

    episodes: int = 10
    seed: int = 10_000
    num_envs: int = 1
    checkpoint_every: int = 0


@dataclass(frozen=True)
class Evaluation:
    """How every controller is evaluated.

    Attributes:
        seeds: SUMO seeds; every controller is evaluated on the same ones.
        episodes: episodes per seed (episode k of seed s uses SUMO seed s + 1000 * k).
        ssm: switch SUMO's SSM device on (conflict counts; ~2.3x slower).
    """

    seeds: tuple[int, ...] = (0, 1, 2)
    episodes: int = 1
    ssm: bool = False


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
    """Validate a scenario given as a mapping (see :func:`load_scenario`)."""
    base = base or Path.cwd()
    mapping = _mapping(data, where, "")
    _known(mapping, TOP_KEYS, where, "")
    if "network" not in mapping:
        raise ScenarioError(f"{where}: missing key 'network' (a bundled name, resco:<map> or a path)")
    if "controllers" not in mapping:
        raise ScenarioError(f"{where}: missing key 'controllers' (a list of controller names or entries)")

    network = _network(_string(mapping["network"], where, "network"), base)
    route_file = mapping.get("route_file")
    if route_file is not None:
        route_file = str(_existing(base, _string(route_file, where, "route_file"), where, "route_file"))

    timing = _mapping(mapping.get("timing", {}), where, "timing")
    _known(timing, TIMING_KEYS, where, "timing.")
    env_options: dict[str, Any] = {}
    for key in ("delta_time", "yellow_time", "all_red_time", "min_green", "max_green"):
        if key in timing:
            env_options[key] = _integer(timing[key], where, f"timing.{key}", minimum=0)
    for key, option in (("begin", "begin_time"), ("end", "end_time")):
        if key in timing:
            env_options[option] = _number(timing[key], where, f"timing.{key}", minimum=0)
    _check_timing(env_options, where)
    for key in ("observation", "reward", "backend"):
        if key in mapping:
            env_options[key] = _string(mapping[key], where, key)
    if "time_to_teleport" in mapping:
        env_options["time_to_teleport"] = _number(mapping["time_to_teleport"], where, "time_to_teleport")
    if "sumo_options" in mapping:
        options = mapping["sumo_options"]
        if not isinstance(options, list) or not all(isinstance(o, (str, int, float)) for o in options):
            raise ScenarioError(f"{where}: sumo_options: expected a list of strings, got {options!r}")
        env_options["sumo_options"] = [str(o) for o in options]

    training = _training(mapping.get("training", {}), where, "training", Training())
    evaluation = _evaluation(mapping.get("evaluation", {}), where)
    controllers = _controllers(mapping["controllers"], where, training)
    name = _string(mapping.get("name", default_name), where, "name")
    description = _string(mapping.get("description", ""), where, "description")
    return Scenario(name, path, network, route_file, env_options, controllers, training, evaluation, description)


def _check_timing(options: dict[str, Any], where: str) -> None:
    delta = options.get("delta_time", 5)
    transition = options.get("yellow_time", 2) + options.get("all_red_time", 0)
    if delta <= 0:
        raise ScenarioError(f"{where}: timing.delta_time: expected > 0, got {delta}")
    if transition >= delta:
        raise ScenarioError(
            f"{where}: timing.yellow_time: yellow + all-red ({transition} s) must be shorter than "
            f"delta_time ({delta} s)"
        )
    if options.get("min_green", 5) > options.get("max_green", 50):
        raise ScenarioError(
            f"{where}: timing.min_green: expected <= max_green ({options.get('max_green', 50)}), "
            f"got {options.get('min_green', 5)}"
        )
    if "begin_time" in options and "end_time" in options and options["end_time"] <= options["begin_time"]:
        raise ScenarioError(f"{where}: timing.end: expected after begin ({options['begin_time']:g}), "
                            f"got {options['end_time']:g}")  # fmt: skip


def _controllers(raw: Any, where: str, training: Training) -> tuple[ControllerSpec, ...]:
    if not isinstance(raw, list) or not raw:
        raise ScenarioError(f"{where}: controllers: expected a non-empty list, got {raw!r}")
    specs: list[ControllerSpec] = []
    for i, entry in enumerate(raw):
        key = f"controllers[{i}]"
        if isinstance(entry, str):
            specs.append(ControllerSpec(entry, entry, {}, training))
            continue
        entry = _mapping(entry, where, key)
        _known(entry, CONTROLLER_KEYS, where, f"{key}.")
        if "name" not in entry and "type" not in entry:
            raise ScenarioError(f"{where}: {key}: expected a 'type' (and optional name, args, training)")
        kind = _string(entry.get("type", entry.get("name")), where, f"{key}.type")
        name = _string(entry.get("name", kind), where, f"{key}.name")
        args = _mapping(entry.get("args", {}), where, f"{key}.args")
        own = _training(entry.get("training", {}), where, f"{key}.training", training)
        specs.append(ControllerSpec(name, kind, dict(args), own))
    names = [s.name for s in specs]
    duplicate = next((n for n in names if names.count(n) > 1), None)
    if duplicate:
        raise ScenarioError(f"{where}: controllers: name '{duplicate}' used twice; give each entry a unique name")
    return tuple(specs)


def _training(raw: Any, where: str, key: str, default: Training) -> Training:
    raw = _mapping(raw, where, key)
    _known(raw, TRAINING_KEYS, where, f"{key}.")
    return Training(
        episodes=_integer(raw.get("episodes", default.episodes), where, f"{key}.episodes", minimum=1),
        seed=_integer(raw.get("seed", default.seed), where, f"{key}.seed", minimum=0),
        num_envs=_integer(raw.get("num_envs", default.num_envs), where, f"{key}.num_envs", minimum=1),
        checkpoint_every=_integer(
            raw.get("checkpoint_every", default.checkpoint_every), where, f"{key}.checkpoint_every", minimum=0
        ),
    )


def _evaluation(raw: Any, where: str) -> Evaluation:
    raw = _mapping(raw, where, "evaluation")
    _known(raw, EVALUATION_KEYS, where, "evaluation.")
    seeds: Any = raw.get("seeds", [0, 1, 2])
    if isinstance(seeds, int) and not isinstance(seeds, bool):
        seeds = [seeds]
    if not isinstance(seeds, list) or not seeds:
        raise ScenarioError(f"{where}: evaluation.seeds: expected a non-empty list of integers, got {seeds!r}")
    parsed = tuple(_integer(s, where, "evaluation.seeds", minimum=0) for s in seeds)
    if len(set(parsed)) != len(parsed):
        raise ScenarioError(f"{where}: evaluation.seeds: seeds must be distinct, got {list(parsed)}")
    ssm = raw.get("ssm", False)
    if not isinstance(ssm, bool):
        raise ScenarioError(f"{where}: evaluation.ssm: expected true or false, got {ssm!r}")
    episodes = _integer(raw.get("episodes", 1), where, "evaluation.episodes", minimum=1)
    return Evaluation(parsed, episodes, ssm)


def _network(value: str, base: Path) -> str:
    if value.startswith("resco:"):
        return value
    candidate = base / value
    if candidate.exists():
        return str(candidate.resolve())
    return value  # a bundled name; resolved (and checked) when the run starts


def _existing(base: Path, value: str, where: str, key: str) -> Path:
    candidate = (base / value).resolve()
    if not candidate.exists():
        raise ScenarioError(f"{where}: {key}: file not found: {candidate}")
    return candidate


def _mapping(value: Any, where: str, key: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        label = f"{key}: " if key else ""
        raise ScenarioError(f"{where}: {label}expected a mapping of keys, got {type(value).__name__}")
    return value


def _known(mapping: dict[str, Any], allowed: set[str], where: str, prefix: str) -> None:
    for key in mapping:
        if key not in allowed:
            raise ScenarioError(f"{where}: unknown key '{prefix}{key}', expected one of {', '.join(sorted(allowed))}")


def _string(value: Any, where: str, key: str) -> str:
    if not isinstance(value, str):
        raise ScenarioError(f"{where}: {key}: expected a string, got {value!r}")
    return value


def _integer(value: Any, where: str, key: str, minimum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or int(value) != value:
        raise ScenarioError(f"{where}: {key}: expected an integer, got {value!r}")
    if minimum is not None and value < minimum:
        raise ScenarioError(f"{where}: {key}: expected an integer >= {minimum}, got {value!r}")
    return int(value)


def _number(value: Any, where: str, key: str, minimum: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ScenarioError(f"{where}: {key}: expected a number, got {value!r}")
    if minimum is not None and value < minimum:
        raise ScenarioError(f"{where}: {key}: expected a number >= {minimum:g}, got {value!r}")
    return float(value)
